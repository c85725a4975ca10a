/**
 * Syntax errors of the query languages. Every message has the same shape so that a client can
 * find the problem without reading our grammar:
 *   `q: expected an operator or ';' '|' ')' at position 5 in 'temp 3'`
 * Positions are 0-based character offsets into the text as received (after URL decoding), the
 * convention of `JSON.parse`; they are also in `data.position` for programmatic use.
 */
import { InvalidRequestError, TooComplexQueryError } from '../errors.ts'

/** Longest excerpt of the offending text quoted in a message; the position still counts from 0. */
const EXCERPT = 160

function excerpt (text: string, position: number): string {
  if (text.length <= EXCERPT) return text
  const start = Math.max(0, Math.min(position - EXCERPT / 2, text.length - EXCERPT))
  return (start > 0 ? '…' : '') + text.slice(start, start + EXCERPT) + (start + EXCERPT < text.length ? '…' : '')
}

export function syntaxError (parameter: string, text: string, expected: string, position: number): InvalidRequestError {
  return new InvalidRequestError(`${parameter}: ${expected} at position ${position} in '${excerpt(text, position)}'`, { parameter, position })
}

export function tooComplex (parameter: string, what: string): TooComplexQueryError {
  return new TooComplexQueryError(`${parameter}: ${what}`)
}

export function isWhitespace (c: string | undefined): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\r'
}

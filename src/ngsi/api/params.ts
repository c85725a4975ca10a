/**
 * Parsing of NGSI-LD URI parameters (clause 6.3.x, 6.4.3.2) beyond what the JSON schemas check.
 */
import { InvalidRequestError, TooManyResultsError, BadRequestDataError } from '../errors.ts'
import type { Format } from '../types.ts'

const OPTION_VALUES = new Set(['keyValues', 'simplified', 'concise', 'normalized', 'sysAttrs', 'noOverwrite', 'replace', 'update'])
const FORMATS = new Set(['keyValues', 'simplified', 'concise', 'normalized'])

export interface RepresentationParams {
  format: Format
  sysAttrs: boolean
}

/** Splits a comma-separated list parameter; an empty item is an error. */
export function list (name: string, value: string | undefined): string[] | undefined {
  if (value == null) return undefined
  const items = value.split(',').map(s => s.trim())
  if (items.some(i => i === '')) throw new InvalidRequestError(`${name}: empty item in the list '${value}'`)
  return items
}

/** The `options` list, validated against what the operation allows. */
export function options (value: string | undefined, allowed: string[]): Set<string> {
  const out = new Set<string>()
  for (const o of list('options', value) ?? []) {
    if (!OPTION_VALUES.has(o) || !allowed.includes(o)) {
      throw new InvalidRequestError(`options: '${o}' is not supported here (allowed: ${allowed.join(', ')})`)
    }
    out.add(o)
  }
  return out
}

/** Representation from `options` and `format` (format wins, 6.3.7 / v1.8). */
export function representation (opts: Set<string>, format: string | undefined): RepresentationParams {
  if (format != null && !FORMATS.has(format)) throw new InvalidRequestError(`format: '${format}' is not one of normalized, concise, keyValues, simplified`)
  const given = [...opts].filter(o => FORMATS.has(o))
  if (format == null && given.length > 1) throw new InvalidRequestError(`options: choose one representation, not ${given.join(' and ')}`)
  const f = format ?? given[0] ?? 'normalized'
  return { format: f === 'simplified' ? 'keyValues' : f as Format, sysAttrs: opts.has('sysAttrs') }
}

export interface Paging { limit: number, offset: number, count: boolean }

export function paging (q: { limit?: number, offset?: number, count?: boolean }, limits: { defaultLimit: number, maxLimit: number }): Paging {
  const count = q.count === true
  const limit = q.limit ?? limits.defaultLimit
  const offset = q.offset ?? 0
  if (limit === 0 && !count) throw new BadRequestDataError('limit=0 is only allowed together with count=true')
  if (limit > limits.maxLimit) throw new TooManyResultsError(`limit ${limit} is larger than the maximum page size ${limits.maxLimit}`)
  return { limit, offset, count }
}

/** Parses the JSON `coordinates` parameter of a geo-query as given in a URL. */
export function coordinates (value: string | undefined): unknown {
  if (value == null) return undefined
  try {
    return JSON.parse(value)
  } catch {
    throw new InvalidRequestError(`coordinates: not a JSON array: ${value}`)
  }
}

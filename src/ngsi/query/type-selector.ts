/**
 * The NGSI-LD entity type selection language (ETSI GS CIM 009 clause 4.17), the `type` parameter:
 *
 *   selector = and *( ( "," / "|" ) and )     ; OR: "," (the historic list form) or "|"
 *   and      = factor *( ";" factor )         ; AND binds tighter: an entity has several types
 *   factor   = "(" selector ")" / type-name
 *
 * e.g. `(Building;Home),Vehicle`. A type name is a term, a compact IRI or an IRI: anything up to
 * whitespace or one of `, | ; ( )` (type names have no dotted paths, so IRIs need no quoting).
 */
import { MAX_QUERY_DEPTH, MAX_QUERY_LENGTH, MAX_QUERY_NODES } from './constants.ts'
import { isWhitespace, syntaxError, tooComplex } from './errors.ts'
import type { InvalidRequestError } from '../errors.ts'

export type TypeSelector =
  | { kind: 'type', name: string }
  | { kind: 'and', children: TypeSelector[] }
  | { kind: 'or', children: TypeSelector[] }

/** A selector bound to one @context: type names expanded. */
export interface BoundTypeSelector {
  /** the selector with expanded type IRIs */
  readonly selector: TypeSelector
  /** the compiled predicate `matchTypes` runs */
  readonly matches: (entityTypes: readonly string[]) => boolean
}

const TYPE_DELIMITERS = ' \t\r\n,|;()'

class TypeSelectorParser {
  private pos = 0
  private nodes = 0
  private depth = 0

  constructor (private readonly text: string) {}

  parse (): TypeSelector {
    if (this.text.length > MAX_QUERY_LENGTH) throw tooComplex('type', `the selector is longer than ${MAX_QUERY_LENGTH} characters`)
    const sel = this.disjunction()
    if (this.skipWs() !== undefined) {
      throw this.error(this.peek() === ')' ? "unbalanced ')'" : "expected ',' '|' ';' or the end of the selector")
    }
    return sel
  }

  private disjunction (): TypeSelector {
    const children = [this.conjunction()]
    for (let c = this.skipWs(); c === ',' || c === '|'; c = this.skipWs()) {
      this.pos++
      children.push(this.conjunction())
    }
    return this.combine('or', children)
  }

  private conjunction (): TypeSelector {
    const children = [this.factor()]
    while (this.skipWs() === ';') {
      this.pos++
      children.push(this.factor())
    }
    return this.combine('and', children)
  }

  private combine (kind: 'and' | 'or', children: TypeSelector[]): TypeSelector {
    if (children.length === 1) return children[0]
    this.count()
    return { kind, children: children.flatMap(c => c.kind === kind ? c.children : [c]) }
  }

  private factor (): TypeSelector {
    if (this.skipWs() === '(') {
      const open = this.pos
      if (++this.depth > MAX_QUERY_DEPTH) throw tooComplex('type', `parentheses are nested deeper than ${MAX_QUERY_DEPTH} levels`)
      this.pos++
      const inner = this.disjunction()
      if (this.skipWs() !== ')') throw this.error(`expected ',' '|' ';' or ')' (the '(' at ${open} is not closed)`)
      this.pos++
      this.depth--
      return inner
    }
    const start = this.pos
    while (this.pos < this.text.length && !TYPE_DELIMITERS.includes(this.text[this.pos])) this.pos++
    if (this.pos === start) throw this.error('expected an entity type')
    this.count()
    return { kind: 'type', name: this.text.slice(start, this.pos) }
  }

  private peek (): string | undefined {
    return this.text[this.pos]
  }

  private skipWs (): string | undefined {
    while (isWhitespace(this.text[this.pos])) this.pos++
    return this.text[this.pos]
  }

  private count (): void {
    if (++this.nodes > MAX_QUERY_NODES) throw tooComplex('type', `the selector has more than ${MAX_QUERY_NODES} types and operators`)
  }

  private error (expected: string, at = this.pos): InvalidRequestError {
    return syntaxError('type', this.text, expected, at)
  }
}

/**
 * Parses a type selector. Throws InvalidRequestError (NGSI_INVALID_REQUEST) with the 0-based
 * position, or TooComplexQueryError beyond the limits of constants.ts.
 */
export function parseTypeSelector (text: string): TypeSelector {
  return new TypeSelectorParser(text).parse()
}

/** Expands every type name with `expandTerm` (JSON-LD vocabulary expansion of the request @context). */
export function bindTypeSelector (sel: TypeSelector, expandTerm: (term: string) => string): BoundTypeSelector {
  const selector = bindNode(sel, expandTerm)
  return { selector, matches: compile(selector) }
}

function bindNode (sel: TypeSelector, expandTerm: (term: string) => string): TypeSelector {
  if (sel.kind === 'type') return { kind: 'type', name: expandTerm(sel.name) }
  return { kind: sel.kind, children: sel.children.map(c => bindNode(c, expandTerm)) }
}

function compile (sel: TypeSelector): (types: readonly string[]) => boolean {
  switch (sel.kind) {
    case 'type': {
      const name = sel.name
      return types => types.includes(name)
    }
    case 'and': {
      const parts = sel.children.map(compile)
      return types => parts.every(p => p(types))
    }
    case 'or': {
      const parts = sel.children.map(compile)
      return types => parts.some(p => p(types))
    }
  }
}

/** Whether an entity with these (expanded) types is selected. */
export function matchTypes (bound: BoundTypeSelector, entityTypes: readonly string[]): boolean {
  return bound.matches(entityTypes)
}

/**
 * Types such that every selected entity has at least one of them, for a type-index scan: a type
 * gives itself, OR the union of its branches, AND the smallest candidate set of its branches
 * (any one branch would be correct; the smallest scans least).
 */
export function candidateTypes (bound: BoundTypeSelector): string[] {
  return [...candidates(bound.selector)]
}

function candidates (sel: TypeSelector): Set<string> {
  switch (sel.kind) {
    case 'type':
      return new Set([sel.name])
    case 'or': {
      const out = new Set<string>()
      for (const c of sel.children) for (const t of candidates(c)) out.add(t)
      return out
    }
    case 'and': {
      let best: Set<string> | undefined
      for (const c of sel.children) {
        const set = candidates(c)
        if (best === undefined || set.size < best.size) best = set
      }
      return best ?? new Set()
    }
  }
}

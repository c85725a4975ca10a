/**
 * The NGSI-LD query language `q` (ETSI GS CIM 009 clause 4.9): parse once, bind the names to
 * expanded IRIs once, then evaluate against many entities.
 *
 * Grammar accepted (whitespace is allowed around every token, not inside a name or a value):
 *
 *   query      = or
 *   or         = and *( "|" and )                 ; ";" binds tighter than "|"
 *   and        = factor *( ";" factor )
 *   factor     = "(" or ")" / term
 *   term       = "!" path                        ; the path does not exist
 *              / path                            ; the path exists
 *              / path ( "==" / "!=" ) ( literal / range / list )
 *              / path ( ">" / ">=" / "<" / "<=" ) literal
 *              / path ( "~=" / "!~=" ) pattern
 *   path       = name *( "." name ) *( "[" key *( "." key ) "]" )
 *   range      = literal ".." literal            ; inclusive; with != : outside the range
 *   list       = literal 1*( "," literal )       ; == any of them; != none of them
 *   literal    = number / "true" / "false" / string / date-time / date / time / uri
 *   pattern    = string / unquoted regular expression
 *
 * Numbers: `-?digits[.digits][e±digits]`. Strings: double (or, leniently, single) quotes; the only
 * escapes are `\"` (the quote) and `\\`; any other backslash is kept, so a quoted pattern such as
 * `"\d+"` reaches RegExp unchanged. Date-times, dates and times are ISO 8601 and unquoted
 * (`2018-12-04T12:00:00Z`, `2018-12-04`, `12:00:00Z`). A URI is `scheme:` followed by anything up
 * to whitespace or one of `; | ( ) , "`. A bare word that is none of these is an error (strings
 * must be quoted), as are `true`/`false` with an ordering operator. A pattern is a JavaScript
 * RegExp tested anywhere in the string; a leading `(?i)` / `(?m)` / `(?s)` (Java-style flags, as
 * used in the NGSI-LD examples) becomes the RegExp flag. An unquoted pattern runs to the next
 * whitespace, `;`, `|` or unbalanced `)` outside parentheses and brackets, so `a~=x|y` is an OR of
 * two terms; write `a~=(x|y)` or quote it.
 *
 * How an attribute name is told apart from a dotted path. A path segment is either quoted
 * (`"http://example.org/v1.2/temp"`, taken verbatim: the escape hatch for every odd case) or bare.
 * A bare segment that starts with `scheme:` (a letter, then letters, digits, `+` or `-`, then `:`;
 * this covers `https:`, `urn:` and compact IRIs such as `ngsi-ld:` or `ex:`) is an IRI, and its
 * dots are part of the IRI up to its last `/` or `#` (or, with neither, its first `:`); the first
 * dot after that point ends the IRI. So `https://example.org/ns/temp.observedAt` is the attribute
 * `https://example.org/ns/temp` with the metadata `observedAt`, `https://example.org/v1.2/temp>3`
 * compares the whole IRI, and `ex:temp.unitCode` splits after `ex:temp`. An IRI whose last path
 * segment itself contains a dot (`https://example.org/temp.v2`) must be quoted, as must an IRI
 * containing `;`, `|`, `(`, `)`, `,`, `=`, `<`, `>`, `~`, `!` or `[`. Any other bare segment is a
 * short name (a letter or `_`, then letters, digits, `_` or `-`) that ends at the first dot.
 * Keys in `[...]` are never split on IRI rules: `attr[a.b]` is the same as `attr[a][b]`.
 *
 * Semantics (see `evaluateQ`): a path's first name is an attribute (all its instances, i.e.
 * datasetIds, are tried, and the term holds if one instance satisfies it); following names are
 * sub-attributes, except the metadata members `observedAt`, `unitCode`, `createdAt`, `modifiedAt`
 * and `datasetId` (last segment only); keys go into a structured Property value, or select the
 * language of a LanguageProperty.
 */
import type { Attribute, Entity } from '../types.ts'
import { NGSI_LD } from '../types.ts'
import { MAX_PATTERN_LENGTH, MAX_QUERY_DEPTH, MAX_QUERY_LENGTH, MAX_QUERY_NODES, METADATA_MEMBERS } from './constants.ts'
import { parseInstant, parseTimeOfDay } from './datetime.ts'
import { isWhitespace, syntaxError, tooComplex } from './errors.ts'
import type { InvalidRequestError } from '../errors.ts'

export type QOperator = '==' | '!=' | '>' | '>=' | '<' | '<=' | '~=' | '!~='

/** A value as written; date/time literals keep their text (parsed when bound). */
export type QLiteral =
  | { type: 'number', value: number }
  | { type: 'boolean', value: boolean }
  | { type: 'string', value: string }
  | { type: 'uri', value: string }
  | { type: 'dateTime', value: string }
  | { type: 'date', value: string }
  | { type: 'time', value: string }

export type QValue =
  | { kind: 'single', literal: QLiteral }
  | { kind: 'list', literals: QLiteral[] }
  | { kind: 'range', from: QLiteral, to: QLiteral }
  | { kind: 'pattern', source: string, flags: string }

export interface QPath {
  /** the attribute: a term, compact IRI or IRI when parsed; an expanded IRI once bound */
  attr: string
  /** sub-attribute names (expanded once bound) and, last, possibly a metadata member (never expanded) */
  subs: string[]
  /** keys inside `[...]`, never expanded */
  keys: string[]
}

export type QExpr =
  | { type: 'and', children: QExpr[] }
  | { type: 'or', children: QExpr[] }
  | { type: 'exists', path: QPath, negated: boolean }
  | { type: 'compare', path: QPath, op: QOperator, value: QValue }

/** A q expression bound to one @context: names expanded, regexes compiled, evaluator built. */
export interface BoundQ {
  /** the expression with expanded names; read it, do not change it */
  readonly expr: QExpr
  /** the compiled predicate `evaluateQ` runs */
  readonly matches: (entity: Entity) => boolean
}

// ---------------------------------------------------------------------------------------------
// Parsing

const OPERATORS: ReadonlySet<string> = new Set(['==', '!=', '>', '>=', '<', '<=', '~=', '!~='])
const OPERATOR_CHARS = '=!<>~'
/** Characters that end a bare path segment ('.' is handled by the IRI rule above). */
const NAME_DELIMITERS = ' \t\r\n;|()[]!=<>~,"\''
/** Characters that end a key inside `[...]`. */
const KEY_DELIMITERS = ' \t\r\n.[]"\';|()=<>!~,'
const IRI_START = /[A-Za-z][A-Za-z0-9+-]*:/y
const SHORT_NAME = /^[\p{L}_][\p{L}\p{N}_-]*$/u
const NAME_START = /^[\p{L}_]$/u
const NAME_CHAR = /^[\p{L}\p{N}_-]$/u
const DATE_OR_DATE_TIME = /\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|z|[+-]\d{2}(?::?\d{2})?)?)?/y
const TIME_LITERAL = /\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|z|[+-]\d{2}(?::?\d{2})?)?/y
const NUMBER = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y
const URI = /[A-Za-z][A-Za-z0-9+.-]*:[^\s;|(),"]+/y
const LEADING_FLAGS = /^\(\?([A-Za-z]+)\)/
const SUPPORTED_FLAGS = 'ims'
const EXPECTED_VALUE = 'expected a value (a number, true, false, a "quoted string", a date/time or a URI)'

class QParser {
  private pos = 0
  private nodes = 0
  private depth = 0

  constructor (private readonly text: string) {}

  parse (): QExpr {
    if (this.text.length > MAX_QUERY_LENGTH) throw tooComplex('q', `the expression is longer than ${MAX_QUERY_LENGTH} characters`)
    const expr = this.disjunction()
    this.skipWs()
    if (this.pos < this.text.length) {
      throw this.error(this.peek() === ')' ? "unbalanced ')'" : "expected ';' '|' or the end of the query")
    }
    return expr
  }

  private disjunction (): QExpr {
    const children = [this.conjunction()]
    while (this.skipWs() === '|') {
      this.pos++
      children.push(this.conjunction())
    }
    return this.combine('or', children)
  }

  private conjunction (): QExpr {
    const children = [this.factor()]
    while (this.skipWs() === ';') {
      this.pos++
      children.push(this.factor())
    }
    return this.combine('and', children)
  }

  /** One AND/OR node; a parenthesised group of the same kind is merged, `(a;b);c` = `a;b;c`. */
  private combine (type: 'and' | 'or', children: QExpr[]): QExpr {
    if (children.length === 1) return children[0]
    this.count(1)
    return { type, children: children.flatMap(c => c.type === type ? c.children : [c]) }
  }

  private factor (): QExpr {
    if (this.skipWs() !== '(') return this.term()
    const open = this.pos
    if (++this.depth > MAX_QUERY_DEPTH) throw tooComplex('q', `parentheses are nested deeper than ${MAX_QUERY_DEPTH} levels`)
    this.pos++
    const inner = this.disjunction()
    if (this.skipWs() !== ')') throw this.error(`expected ';' '|' or ')' (the '(' at ${open} is not closed)`)
    this.pos++
    this.depth--
    return inner
  }

  private term (): QExpr {
    if (this.peek() === '!') {
      this.pos++
      this.skipWs()
      const path = this.path()
      if (isOperatorChar(this.skipWs())) throw this.error("a negated term '!attribute' takes no operator")
      this.count(1)
      return { type: 'exists', path, negated: true }
    }
    const path = this.path()
    const c = this.skipWs()
    if (c === undefined || c === ';' || c === '|' || c === ')') {
      this.count(1)
      return { type: 'exists', path, negated: false }
    }
    if (!isOperatorChar(c)) throw this.error("expected an operator or ';' '|' ')'")
    // maximal munch, so that `temp>>3` is reported as a bad operator rather than a bad value
    const opStart = this.pos
    while (isOperatorChar(this.peek())) this.pos++
    const op = this.text.slice(opStart, this.pos)
    if (!OPERATORS.has(op)) throw this.error(`expected an operator (== != > >= < <= ~= !~=), found '${op}'`, opStart)
    this.skipWs()
    const value = op === '~=' || op === '!~=' ? this.pattern() : this.value(op as QOperator)
    this.count(value.kind === 'list' ? value.literals.length : 1)
    return { type: 'compare', path, op: op as QOperator, value }
  }

  private path (): QPath {
    const segments: string[] = []
    const starts: number[] = []
    for (;;) {
      starts.push(this.pos)
      segments.push(this.peek() === '"' ? this.quotedName() : this.bareSegment(segments.length === 0))
      if (this.peek() !== '.') break
      this.pos++
    }
    const keys: string[] = []
    const keysStart = this.pos
    while (this.peek() === '[') {
      this.pos++
      for (;;) {
        const start = this.pos
        while (this.pos < this.text.length && !KEY_DELIMITERS.includes(this.text[this.pos])) this.pos++
        if (this.pos === start) throw this.error('expected a key inside [...]')
        keys.push(this.text.slice(start, this.pos))
        if (this.peek() !== '.') break
        this.pos++
      }
      if (this.peek() !== ']') throw this.error("expected ']'")
      this.pos++
    }
    // metadata members are plain strings: nothing can follow them
    for (let i = 1; i < segments.length; i++) {
      if (!METADATA_MEMBERS.has(segments[i])) continue
      if (i < segments.length - 1) throw this.error(`${segments[i]} is metadata and has no sub-attributes`, starts[i + 1])
      if (keys.length > 0) throw this.error(`${segments[i]} is metadata and has no keys`, keysStart)
    }
    return { attr: segments[0], subs: segments.slice(1), keys }
  }

  private bareSegment (first: boolean): string {
    const text = this.text
    const start = this.pos
    let runEnd = start
    while (runEnd < text.length && !NAME_DELIMITERS.includes(text[runEnd])) runEnd++
    let end: number
    IRI_START.lastIndex = start
    if (runEnd > start && IRI_START.test(text)) {
      let anchor = Math.max(text.lastIndexOf('/', runEnd - 1), text.lastIndexOf('#', runEnd - 1))
      if (anchor < start) anchor = text.indexOf(':', start)
      const dot = text.indexOf('.', anchor + 1)
      end = dot !== -1 && dot < runEnd ? dot : runEnd
    } else {
      const dot = text.indexOf('.', start)
      end = dot !== -1 && dot < runEnd ? dot : runEnd
      const name = text.slice(start, end)
      if (name.length > 0 && !SHORT_NAME.test(name)) {
        let at = start
        for (const ch of name) {
          if (!(at === start ? NAME_START : NAME_CHAR).test(ch)) throw this.error(`unexpected character '${ch}' in the name`, at)
          at += ch.length
        }
      }
    }
    if (end === start) throw this.error(first ? 'expected an attribute name' : 'expected a sub-attribute name')
    this.pos = end
    return text.slice(start, end)
  }

  private quotedName (): string {
    const start = this.pos
    const name = this.quoted('"', false)
    if (name.length === 0) throw this.error('expected a name inside the quotes', start)
    return name
  }

  /** A quoted string. `raw` keeps every backslash except the one before the quote (for patterns). */
  private quoted (quote: string, raw: boolean): string {
    const text = this.text
    const start = this.pos
    let out = ''
    for (let i = start + 1; i < text.length; i++) {
      const ch = text[i]
      if (ch === '\\' && i + 1 < text.length) {
        const next = text[++i]
        out += next === quote ? quote : next === '\\' ? (raw ? '\\\\' : '\\') : '\\' + next
      } else if (ch === quote) {
        this.pos = i + 1
        return out
      } else {
        out += ch
      }
    }
    throw this.error('unterminated string starting', start)
  }

  private value (op: QOperator): QValue {
    const equality = op === '==' || op === '!='
    const firstAt = this.pos
    const first = this.literal()
    this.skipWs()
    if (this.text.startsWith('..', this.pos)) {
      if (!equality) throw this.error('a range is only allowed after == or !=')
      this.pos += 2
      this.skipWs()
      const secondAt = this.pos
      const second = this.literal()
      if (first.type === 'boolean') throw this.error('a range needs numbers, strings or dates, not true/false', firstAt)
      if (second.type === 'boolean' || !comparableKinds(first, second)) {
        throw this.error(`the range ends must be of the same kind (${first.type} .. ${second.type})`, secondAt)
      }
      return { kind: 'range', from: first, to: second }
    }
    if (this.peek() === ',') {
      if (!equality) throw this.error('a list of values is only allowed after == or !=')
      const literals = [first]
      while (this.skipWs() === ',') {
        this.pos++
        this.skipWs()
        literals.push(this.literal())
        if (this.skipWs() === '.' && this.text.startsWith('..', this.pos)) throw this.error('a list of values cannot contain a range')
      }
      return { kind: 'list', literals }
    }
    if (!equality && first.type === 'boolean') throw this.error(`true and false can only be compared with == or !=, not ${op}`, firstAt)
    return { kind: 'single', literal: first }
  }

  private literal (): QLiteral {
    const start = this.pos
    const c = this.peek()
    if (c === '"' || c === "'") {
      const value = this.quoted(c, false)
      this.expectValueEnd()
      return { type: 'string', value }
    }
    let literal: QLiteral | undefined
    // order matters: a date or a time starts like a number
    let m = this.match(DATE_OR_DATE_TIME)
    if (m !== undefined && this.valueEndsAt(start + m.length)) {
      if (parseInstant(m) === undefined) throw this.error(`'${m}' is not a valid date or date-time`, start)
      literal = { type: m.length === 10 ? 'date' : 'dateTime', value: m }
    } else if ((m = this.match(TIME_LITERAL)) !== undefined && this.valueEndsAt(start + m.length)) {
      if (parseTimeOfDay(m) === undefined) throw this.error(`'${m}' is not a valid time`, start)
      literal = { type: 'time', value: m }
    } else if ((m = this.match(NUMBER)) !== undefined) {
      const n = Number(m)
      if (!Number.isFinite(n)) throw this.error(`the number ${m} is out of range`, start)
      literal = { type: 'number', value: n }
    } else if (this.word('true') || this.word('false')) {
      m = this.text.startsWith('true', start) ? 'true' : 'false'
      literal = { type: 'boolean', value: m === 'true' }
    } else if ((m = this.match(URI)) !== undefined) {
      literal = { type: 'uri', value: m }
    }
    if (literal === undefined || m === undefined) throw this.error(EXPECTED_VALUE)
    this.pos = start + m.length
    this.expectValueEnd()
    return literal
  }

  private expectValueEnd (): void {
    if (!this.valueEndsAt(this.pos)) throw this.error(`unexpected '${this.text[this.pos]}' after the value`)
  }

  private pattern (): QValue {
    const start = this.pos
    const c = this.peek()
    let source = c === '"' || c === "'" ? this.quoted(c, true) : this.unquotedPattern()
    if (source.length === 0) throw this.error('expected a regular expression', start)
    const c2 = this.peek()
    if (c2 !== undefined && c2 !== ';' && c2 !== '|' && c2 !== ')' && !isWhitespace(c2)) {
      throw this.error(`unexpected '${c2}' after the regular expression`)
    }
    let flags = ''
    const leading = LEADING_FLAGS.exec(source)
    if (leading !== null) {
      for (const f of leading[1]) {
        if (!SUPPORTED_FLAGS.includes(f)) throw this.error(`unsupported regular expression flag '${f}' (supported: (?i) (?m) (?s))`, start)
        if (!flags.includes(f)) flags += f
      }
      source = source.slice(leading[0].length)
    }
    if (source.length > MAX_PATTERN_LENGTH) throw tooComplex('q', `a regular expression is longer than ${MAX_PATTERN_LENGTH} characters`)
    try {
      new RegExp(source, flags)
    } catch (err) {
      throw this.error(`invalid regular expression (${(err as Error).message})`, start)
    }
    return { kind: 'pattern', source, flags }
  }

  /** An unquoted pattern: up to whitespace, ';', '|' or an unbalanced ')' outside groups/classes. */
  private unquotedPattern (): string {
    const text = this.text
    let depth = 0
    let inClass = false
    let i = this.pos
    for (; i < text.length; i++) {
      const ch = text[i]
      if (ch === '\\') { i++; continue }
      if (inClass) { if (ch === ']') inClass = false; continue }
      if (ch === '[') { inClass = true; continue }
      if (ch === '(') { depth++; continue }
      if (ch === ')') { if (depth === 0) break; depth--; continue }
      if (depth === 0 && (ch === ';' || ch === '|' || isWhitespace(ch))) break
    }
    i = Math.min(i, text.length)
    const source = text.slice(this.pos, i)
    this.pos = i
    return source
  }

  private match (re: RegExp): string | undefined {
    re.lastIndex = this.pos
    const m = re.exec(this.text)
    return m === null ? undefined : m[0]
  }

  private word (w: string): boolean {
    return this.text.startsWith(w, this.pos) && this.valueEndsAt(this.pos + w.length)
  }

  /** Whether a value may end at `i`: end, whitespace, a separator, or the '..' of a range. */
  private valueEndsAt (i: number): boolean {
    const c = this.text[i]
    return c === undefined || isWhitespace(c) || c === ';' || c === '|' || c === ')' || c === ',' ||
      (c === '.' && this.text[i + 1] === '.')
  }

  private peek (): string | undefined {
    return this.text[this.pos]
  }

  /** Skips whitespace and returns the next character. */
  private skipWs (): string | undefined {
    while (isWhitespace(this.text[this.pos])) this.pos++
    return this.text[this.pos]
  }

  private count (n: number): void {
    this.nodes += n
    if (this.nodes > MAX_QUERY_NODES) throw tooComplex('q', `the expression has more than ${MAX_QUERY_NODES} terms, values and operators`)
  }

  private error (expected: string, at = this.pos): InvalidRequestError {
    return syntaxError('q', this.text, expected, at)
  }
}

function isOperatorChar (c: string | undefined): boolean {
  return c !== undefined && c.length === 1 && OPERATOR_CHARS.includes(c)
}

/** Range ends must compare with each other; a quoted string may stand for a date. */
function comparableKinds (a: QLiteral, b: QLiteral): boolean {
  const kind = (l: QLiteral): string => l.type === 'uri' ? 'string' : l.type === 'date' ? 'dateTime' : l.type
  const ka = kind(a)
  const kb = kind(b)
  return ka === kb || (ka === 'string' && kb === 'dateTime') || (ka === 'dateTime' && kb === 'string')
}

/**
 * Parses a q expression. Throws InvalidRequestError (NGSI_INVALID_REQUEST) naming what was
 * expected and the 0-based position, or TooComplexQueryError beyond the limits of constants.ts.
 */
export function parseQ (text: string): QExpr {
  return new QParser(text).parse()
}

// ---------------------------------------------------------------------------------------------
// Binding

/**
 * Resolves the names of a parsed expression against one @context (`expandTerm`), compiles the
 * regular expressions and builds the evaluator. Attribute and sub-attribute names are expanded;
 * metadata members and `[...]` keys are not. String and URI values are expanded too, but only
 * for comparisons with a VocabularyProperty, whose `vocab` holds expanded IRIs (clause 4.5.20).
 */
export function bindQ (expr: QExpr, expandTerm: (term: string) => string): BoundQ {
  const cache = new Map<string, string>()
  const expand = (term: string): string => {
    let iri = cache.get(term)
    if (iri === undefined) {
      iri = expandTerm(term)
      cache.set(term, iri)
    }
    return iri
  }
  const bound = bindExpr(expr, expand)
  return { expr: bound, matches: compile(bound, expand) }
}

function bindExpr (expr: QExpr, expand: (t: string) => string): QExpr {
  switch (expr.type) {
    case 'and':
    case 'or':
      return { type: expr.type, children: expr.children.map(c => bindExpr(c, expand)) }
    case 'exists':
      return { type: 'exists', path: bindPath(expr.path, expand), negated: expr.negated }
    case 'compare':
      return { type: 'compare', path: bindPath(expr.path, expand), op: expr.op, value: expr.value }
  }
}

function bindPath (path: QPath, expand: (t: string) => string): QPath {
  return { attr: expand(path.attr), subs: path.subs.map(s => bindSub(s, expand)), keys: path.keys.slice() }
}

function bindSub (name: string, expand: (t: string) => string): string {
  if (METADATA_MEMBERS.has(name)) return name
  const iri = expand(name)
  // `temperature.ngsi-ld:observedAt` or the full core IRI name the metadata member too
  if (iri.startsWith(NGSI_LD) && METADATA_MEMBERS.has(iri.slice(NGSI_LD.length))) return iri.slice(NGSI_LD.length)
  return iri
}

// ---------------------------------------------------------------------------------------------
// Evaluation

type EntityTest = (entity: Entity) => boolean
type InstanceTest = (attribute: Attribute) => boolean
/** true / false, or undefined when the element cannot be compared with the query value (type mismatch). */
type ElementTest = (element: unknown) => boolean | undefined
/** The sign of (element − literal), or undefined when they are not comparable. */
type Comparator = (element: unknown) => number | undefined
type MetadataMember = 'observedAt' | 'unitCode' | 'createdAt' | 'modifiedAt' | 'datasetId'

function compile (expr: QExpr, expand: (t: string) => string): EntityTest {
  switch (expr.type) {
    case 'and': {
      const parts = expr.children.map(c => compile(c, expand))
      return entity => {
        for (let i = 0; i < parts.length; i++) if (!parts[i](entity)) return false
        return true
      }
    }
    case 'or': {
      const parts = expr.children.map(c => compile(c, expand))
      return entity => {
        for (let i = 0; i < parts.length; i++) if (parts[i](entity)) return true
        return false
      }
    }
    case 'exists': {
      const attr = expr.path.attr
      const test = existenceTest(expr.path)
      const negated = expr.negated
      return entity => anyInstance(entity.attrs[attr], test) !== negated
    }
    case 'compare': {
      const attr = expr.path.attr
      const test = comparisonTest(expr.path, expr.op, expr.value, expand)
      return entity => anyInstance(entity.attrs[attr], test)
    }
  }
}

function anyInstance (instances: Attribute[] | undefined, test: InstanceTest): boolean {
  // Array.isArray also guards against names such as 'constructor' reaching Object.prototype
  if (!Array.isArray(instances)) return false
  for (let i = 0; i < instances.length; i++) if (test(instances[i])) return true
  return false
}

/** Splits a bound path into the sub-attribute walk and the trailing metadata member, if any. */
function splitPath (path: QPath): { walk: (a: Attribute) => Attribute | undefined, meta: MetadataMember | undefined } {
  const last = path.subs[path.subs.length - 1]
  const meta = last !== undefined && METADATA_MEMBERS.has(last) ? last as MetadataMember : undefined
  const subs = meta === undefined ? path.subs : path.subs.slice(0, -1)
  if (subs.length === 0) return { walk: a => a, meta }
  return {
    meta,
    walk: a => {
      let current: Attribute = a
      for (let i = 0; i < subs.length; i++) {
        const sub = current.sub
        if (sub === undefined || !Object.hasOwn(sub, subs[i])) return undefined
        current = sub[subs[i]]
      }
      return current
    }
  }
}

function existenceTest (path: QPath): InstanceTest {
  const { walk, meta } = splitPath(path)
  const keys = path.keys
  if (meta !== undefined) {
    return a => {
      const target = walk(a)
      return target !== undefined && target[meta] !== undefined
    }
  }
  if (keys.length === 0) return a => walk(a) !== undefined
  return a => {
    const target = walk(a)
    return target !== undefined && valuesOf(target, keys) !== undefined
  }
}

function comparisonTest (path: QPath, op: QOperator, value: QValue, expand: (t: string) => string): InstanceTest {
  const { walk, meta } = splitPath(path)
  const keys = path.keys
  // != and !~= are the negation of == and ~= over the elements of one instance: some element
  // must be comparable and none may match (an array [a, b] is "!= a" only if it lacks a)
  const negative = op === '!=' || op === '!~='
  const positiveOp: QOperator = op === '!=' ? '==' : op === '!~=' ? '~=' : op
  const plain = elementTest(positiveOp, value, undefined)
  const vocab = value.kind === 'pattern' ? plain : elementTest(positiveOp, value, expand)
  const check = negative ? noneButSome : some
  if (meta !== undefined) {
    return a => {
      const target = walk(a)
      return target !== undefined && check(target[meta], plain)
    }
  }
  return a => {
    const target = walk(a)
    if (target === undefined) return false
    const values = valuesOf(target, keys)
    return values !== undefined && check(values, target.type === 'VocabularyProperty' ? vocab : plain)
  }
}

function some (values: unknown, test: ElementTest): boolean {
  if (!Array.isArray(values)) return test(values) === true
  for (let i = 0; i < values.length; i++) if (test(values[i]) === true) return true
  return false
}

function noneButSome (values: unknown, test: ElementTest): boolean {
  if (!Array.isArray(values)) return test(values) === false
  let comparable = false
  for (let i = 0; i < values.length; i++) {
    const r = test(values[i])
    if (r === true) return false
    if (r === false) comparable = true
  }
  return comparable
}

/**
 * What a comparison looks at in one attribute (after the sub-attribute walk); undefined if the
 * path does not exist there. Arrays mean "any element".
 */
function valuesOf (a: Attribute, keys: string[]): unknown {
  switch (a.type) {
    case 'Property':
    case 'JsonProperty':
      return keys.length === 0 ? a.value : descend(a.value, keys, 0)
    case 'ListProperty':
      return keys.length === 0 ? a.valueList : descend(a.valueList, keys, 0)
    case 'Relationship':
      return keys.length === 0 ? a.object : undefined
    case 'ListRelationship':
      return keys.length === 0 ? a.objectList : undefined
    case 'VocabularyProperty':
      return keys.length === 0 ? a.vocab : undefined
    case 'LanguageProperty':
      return languageValues(a.languageMap, keys)
    default:
      // GeoProperty: only existence (geo-queries are the way to ask about geometry)
      return undefined
  }
}

/** `value[k1][k2]…`; arrays on the way are mapped over and flattened. */
function descend (value: unknown, keys: string[], from: number): unknown {
  let v = value
  for (let i = from; i < keys.length; i++) {
    if (Array.isArray(v)) {
      const out: unknown[] = []
      for (const element of v) {
        const r = descend(element, keys, i)
        if (Array.isArray(r)) out.push(...r)
        else if (r !== undefined) out.push(r)
      }
      return out.length > 0 ? out : undefined
    }
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, keys[i])) return undefined
    v = (v as Record<string, unknown>)[keys[i]]
  }
  return v
}

/** `name` → every string in the map; `name[fr]` → the French string(s) (tags compare case-insensitively). */
function languageValues (map: Record<string, string | string[]> | undefined, keys: string[]): unknown {
  if (map === undefined || keys.length > 1) return undefined
  if (keys.length === 1) {
    const tag = keys[0]
    if (Object.hasOwn(map, tag)) return map[tag]
    const lower = tag.toLowerCase()
    for (const k in map) if (k.toLowerCase() === lower && Object.hasOwn(map, k)) return map[k]
    return undefined
  }
  const out: unknown[] = []
  for (const k in map) {
    if (!Object.hasOwn(map, k)) continue
    const v = map[k]
    if (Array.isArray(v)) out.push(...v)
    else out.push(v)
  }
  return out
}

/** A JSON-LD value object (`{"@type": "DateTime", "@value": "…"}`) compares as its @value. */
function unwrap (element: unknown): unknown {
  if (element !== null && typeof element === 'object' && !Array.isArray(element) && '@value' in element) {
    return (element as { '@value': unknown })['@value']
  }
  return element
}

/** The test of one (positive) operator against one element; `expand` set = VocabularyProperty. */
function elementTest (op: QOperator, value: QValue, expand: ((t: string) => string) | undefined): ElementTest {
  switch (value.kind) {
    case 'pattern': {
      const re = new RegExp(value.source, value.flags)
      return element => {
        const s = unwrap(element)
        return typeof s === 'string' ? re.test(s) : undefined
      }
    }
    case 'list': {
      const comparators = value.literals.map(l => comparator(l, expand))
      return element => {
        const u = unwrap(element)
        let comparable = false
        for (let i = 0; i < comparators.length; i++) {
          const r = comparators[i](u)
          if (r === 0) return true
          if (r !== undefined) comparable = true
        }
        return comparable ? false : undefined
      }
    }
    case 'range': {
      const from = comparator(value.from, expand)
      const to = comparator(value.to, expand)
      return element => {
        const u = unwrap(element)
        const a = from(u)
        if (a === undefined) return undefined
        const b = to(u)
        if (b === undefined) return undefined
        return a >= 0 && b <= 0
      }
    }
    case 'single': {
      const c = comparator(value.literal, expand)
      const holds = ORDER[op]
      return element => {
        const r = c(unwrap(element))
        return r === undefined ? undefined : holds(r)
      }
    }
  }
}

const ORDER: Record<QOperator, (sign: number) => boolean> = {
  '==': s => s === 0,
  '!=': s => s !== 0,
  '>': s => s > 0,
  '>=': s => s >= 0,
  '<': s => s < 0,
  '<=': s => s <= 0,
  '~=': () => false,
  '!~=': () => false
}

function sign (d: number): number {
  return d < 0 ? -1 : d > 0 ? 1 : 0
}

function lexical (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** How elements compare with one literal; everything that can be is computed here, once. */
function comparator (literal: QLiteral, expand: ((t: string) => string) | undefined): Comparator {
  switch (literal.type) {
    case 'number': {
      const n = literal.value
      return u => typeof u !== 'number' ? undefined : u < n ? -1 : u > n ? 1 : u === n ? 0 : undefined
    }
    case 'boolean': {
      const b = literal.value
      return u => typeof u === 'boolean' ? (u === b ? 0 : 1) : undefined
    }
    case 'uri':
    case 'string': {
      const s = expand === undefined ? literal.value : expandValue(literal.value, expand)
      // a quoted date ("2020-01-01") still compares as an instant against date strings, so that
      // "2017-12-24T12:00:00Z" equals a stored "2017-12-24T12:00:00.000Z"
      const instant = expand === undefined && literal.type === 'string' ? parseInstant(s) : undefined
      if (instant === undefined) return u => typeof u === 'string' ? lexical(u, s) : undefined
      return u => {
        if (typeof u !== 'string') return undefined
        const i = parseInstant(u)
        return i === undefined ? lexical(u, s) : sign(i - instant)
      }
    }
    case 'date':
    case 'dateTime': {
      const instant = parseInstant(literal.value) as number
      return u => {
        if (typeof u !== 'string') return undefined
        const i = parseInstant(u)
        return i === undefined ? undefined : sign(i - instant)
      }
    }
    case 'time': {
      const time = parseTimeOfDay(literal.value) as number
      return u => {
        if (typeof u !== 'string') return undefined
        const t = parseTimeOfDay(u)
        return t === undefined ? undefined : sign(t - time)
      }
    }
  }
}

function expandValue (value: string, expand: (t: string) => string): string {
  try {
    return expand(value)
  } catch {
    // a value that is no valid term (spaces, odd characters) cannot be a vocab IRI either
    return value
  }
}

/**
 * Whether the entity satisfies the bound expression. Per term:
 * - the term holds if any instance (datasetId) of the attribute satisfies it;
 * - Property / JsonProperty compare `value` (an array: any element), Relationship `object`,
 *   ListProperty / ListRelationship their lists, VocabularyProperty `vocab` (against the expanded
 *   query value), LanguageProperty the string of `[lang]` or, without, any language's string;
 *   GeoProperty supports existence only;
 * - number vs number numerically, string vs string lexicographically (or as instants when both
 *   are ISO dates), date/time literals as instants or times of day; anything else is a mismatch
 *   and the term is false, not an error;
 * - `!=` / `!~=` need the path to exist and hold when no element equals / matches (and at least
 *   one element is comparable), so `!=` on a missing attribute is false while `!attr` is true.
 */
export function evaluateQ (q: BoundQ, entity: Entity): boolean {
  return q.matches(entity)
}

function collect (expr: QExpr, visit: (e: Extract<QExpr, { path: QPath }>) => void): void {
  if (expr.type === 'and' || expr.type === 'or') for (const c of expr.children) collect(c, visit)
  else visit(expr)
}

/** Every (expanded) attribute name the expression looks at, including those under `!`. */
export function referencedAttributes (q: BoundQ): Set<string> {
  const out = new Set<string>()
  collect(q.expr, term => out.add(term.path.attr))
  return out
}

/**
 * Attributes every matching entity has (conservative: a subset of the truth), for choosing an
 * index: a term requires its attribute unless it is `!attr`; AND unites, OR intersects.
 */
export function requiredAttributes (q: BoundQ): Set<string> {
  return required(q.expr)
}

function required (expr: QExpr): Set<string> {
  switch (expr.type) {
    case 'exists':
      return expr.negated ? new Set() : new Set([expr.path.attr])
    case 'compare':
      return new Set([expr.path.attr])
    case 'and': {
      const out = new Set<string>()
      for (const c of expr.children) for (const a of required(c)) out.add(a)
      return out
    }
    case 'or': {
      let out: Set<string> | undefined
      for (const c of expr.children) {
        const r = required(c)
        out = out === undefined ? r : new Set([...out].filter(a => r.has(a)))
      }
      return out ?? new Set()
    }
  }
}

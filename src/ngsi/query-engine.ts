/**
 * Query Entities (5.7.2): compiles the selection of a query (ids, idPattern, type selector, attrs,
 * q, geo-query) against the request's @context once, picks the most selective index of the store,
 * and streams matching entities in id order until it has offset + limit of them (or all, to count).
 */
import { bindGeoQuery, bindQ, bindTypeSelector, candidateTypes, evaluateGeo, evaluateQ, matchTypes, parseGeoQuery, parseQ, parseTypeSelector, requiredAttributes } from './query/index.ts'
import type { EntityStore, ScanSource } from './store/index.ts'
import { BadRequestDataError, InvalidRequestError } from './errors.ts'
import type { Entity } from './types.ts'

export interface EntitySelection {
  ids?: string[]
  idPattern?: string
  /** type selection language (4.17) */
  type?: string
  /** entities must have at least one of these (compact names) */
  attrs?: string[]
  q?: string
  geo?: { georel?: string, geometry?: string, coordinates?: string | unknown, geoproperty?: string }
  /** where the geo-query came from: URI parameters (InvalidRequest) or a POST body's geoQ (BadRequestData) */
  geoSource?: 'query' | 'body'
}

export interface CompiledSelection {
  /** does this entity match? */
  test: (e: Entity) => boolean
  source: ScanSource
  /** expanded names of `attrs` (for projection) */
  attrs?: Set<string>
}

/** A literal prefix of a regular expression anchored with ^ (`^urn:ngsi-ld:Car:.*` → `urn:ngsi-ld:Car:`). */
export function literalPrefix (pattern: string): string {
  if (!pattern.startsWith('^')) return ''
  let out = ''
  for (let i = 1; i < pattern.length; i++) {
    const c = pattern[i]
    if (c === '\\') {
      const next = pattern[i + 1]
      if (next != null && /[.\\/:^$*+?()[\]{}|-]/.test(next)) { out += next; i++; continue }
      break
    }
    if ('.*+?()[]{}|$^'.includes(c)) {
      // A quantifier makes the previous character optional or repeated: drop it from the prefix.
      if ('*?{'.includes(c)) out = out.slice(0, -1)
      break
    }
    out += c
  }
  return out
}

export function compileSelection (sel: EntitySelection, expandTerm: (t: string) => string): CompiledSelection {
  const tests: Array<(e: Entity) => boolean> = []
  const sources: ScanSource[] = []

  if (sel.ids != null && sel.ids.length > 0) {
    const ids = new Set(sel.ids)
    tests.push(e => ids.has(e.id))
    sources.push({ ids: [...ids] })
  }
  if (sel.idPattern != null) {
    let re: RegExp
    try { re = new RegExp(sel.idPattern) } catch (err) {
      throw new InvalidRequestError(`idPattern: not a valid regular expression: ${(err as Error).message}`)
    }
    tests.push(e => re.test(e.id))
    const prefix = literalPrefix(sel.idPattern)
    if (prefix !== '') sources.push({ idPrefix: prefix })
  }
  if (sel.type != null) {
    const bound = bindTypeSelector(parseTypeSelector(sel.type), expandTerm)
    tests.push(e => matchTypes(bound, e.type))
    sources.push({ types: candidateTypes(bound) })
  }
  let attrs: Set<string> | undefined
  if (sel.attrs != null && sel.attrs.length > 0) {
    const expanded = sel.attrs.map(expandTerm)
    attrs = new Set(expanded)
    tests.push(e => expanded.some(a => a in e.attrs))
    if (expanded.length === 1) sources.push({ attr: expanded[0] })
  }
  if (sel.q != null) {
    const q = bindQ(parseQ(sel.q), expandTerm)
    tests.push(e => evaluateQ(q, e))
    for (const a of requiredAttributes(q)) sources.push({ attr: a })
  }
  const geo = sel.geo != null ? parseGeoQuery(sel.geo, { source: sel.geoSource ?? 'query' }) : null
  if (geo != null) {
    const g = bindGeoQuery(geo, expandTerm)
    tests.push(e => evaluateGeo(g, e))
  }
  const test = tests.length === 1 ? tests[0] : (e: Entity) => tests.every(t => t(e))
  return { test, source: mergeSources(sources), attrs }
}

/**
 * Query via POST: entities matching any of the selectors (each: ids, idPattern, type) and all of
 * the common filters (attrs, q, geo-query).
 */
export function compileSelectors (selectors: Array<Pick<EntitySelection, 'ids' | 'idPattern' | 'type'>>, common: Omit<EntitySelection, 'ids' | 'idPattern' | 'type'>, expandTerm: (t: string) => string): CompiledSelection {
  if (selectors.length <= 1) return compileSelection({ ...selectors[0], ...common }, expandTerm)
  const parts = selectors.map(s => compileSelection(s, expandTerm))
  const filters = compileSelection(common, expandTerm)
  const any = (e: Entity): boolean => parts.some(p => p.test(e))
  const hasCommon = common.attrs != null || common.q != null || common.geo != null
  let source: ScanSource = hasCommon ? filters.source : {}
  if (parts.every(p => p.source.ids != null)) source = { ids: parts.flatMap(p => p.source.ids ?? []) }
  else if (parts.every(p => p.source.types != null)) source = { types: parts.flatMap(p => p.source.types ?? []), attr: source.attr }
  return { test: hasCommon ? (e) => any(e) && filters.test(e) : any, source, attrs: filters.attrs }
}

/** Combines what the parts of a query know into one scan source. */
function mergeSources (sources: ScanSource[]): ScanSource {
  const ids = sources.find(s => s.ids != null)
  if (ids != null) return ids
  const prefix = sources.find(s => s.idPrefix != null)?.idPrefix
  const types = sources.find(s => s.types != null)?.types
  const attr = sources.find(s => s.attr != null)?.attr
  return { types, attr, idPrefix: prefix }
}

/** Chooses between the type index and the attribute index by their sizes. */
function chooseSource (store: EntityStore, s: ScanSource): ScanSource {
  if (s.ids != null) return s
  if (s.types != null && s.attr != null) {
    return store.estimate({ types: s.types }) <= store.estimate({ attr: s.attr })
      ? { types: s.types, idPrefix: s.idPrefix }
      : { attr: s.attr, idPrefix: s.idPrefix }
  }
  return s
}

export interface QueryPage {
  entities: Entity[]
  /** all matches, when counting was asked for */
  count?: number
}

/**
 * Runs a compiled selection over the store. Without `count` it stops after offset + limit
 * matches; with `count` it walks every candidate.
 */
export async function runQuery (store: EntityStore, sel: CompiledSelection, page: { offset: number, limit: number, count: boolean }): Promise<QueryPage> {
  const entities: Entity[] = []
  let matched = 0
  const stopAt = page.offset + page.limit
  scan: for await (const chunk of store.scan(chooseSource(store, sel.source))) {
    for (const e of chunk) {
      if (!sel.test(e)) continue
      matched++
      if (matched > page.offset && matched <= stopAt) entities.push(e)
      else if (matched > stopAt && !page.count) break scan
    }
  }
  return page.count ? { entities, count: matched } : { entities }
}

/** NGSI-LD 5.7.2: a query must select something. */
export function isSelective (sel: EntitySelection): boolean {
  return (sel.ids != null && sel.ids.length > 0) || sel.idPattern != null || sel.type != null ||
    (sel.attrs != null && sel.attrs.length > 0) || sel.q != null || sel.geo?.georel != null
}

export function assertSelective (sel: EntitySelection): void {
  if (!isSelective(sel)) throw new BadRequestDataError('a query needs at least one of id, idPattern, type, attrs, q or a geo-query')
}

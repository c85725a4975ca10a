/**
 * Output: the internal model → NGSI-LD representations (6.3.7 / 6.3.11): normalized, concise
 * (type left out where the input rules infer it, bare values where unambiguous) and keyValues,
 * with sysAttrs, attrs / pick / omit projections and `lang` (4.15).
 *
 * compactEntity runs for every entity of every response and notification, so it only walks the
 * model once, builds plain objects, relies on the CompiledContext's memoised compaction and
 * shares values with the stored entity (no cloning, no JSON round trip): treat the result as
 * read-only and serialise it.
 */
import type { CompiledContext } from '../context/index.ts'
import type { Attribute, Entity, RenderOptions } from '../types.ts'
import { LOCATION, NGSI_LD, OWNER_MEMBER, WRITER_MEMBER } from '../types.ts'
import { GEO_PROPERTY_NAMES, KIND_TERM } from './constants.ts'
import { looksLikeGeometry } from './geometry.ts'

type Json = Record<string, unknown>

const SCOPE_IRI = NGSI_LD + 'scope'

/** One language preference list per `lang` string seen (bounded: `lang` comes from requests). */
const langMemo = new Map<string, string[]>()
const LANG_MEMO_LIMIT = 256

/** `lang` as 4.15 allows it: one tag, or a comma list with optional q-values ("fr,en;q=0.8,*"). */
function languagePreferences (lang: string): string[] {
  let prefs = langMemo.get(lang)
  if (prefs !== undefined) return prefs
  const weighted: Array<[string, number, number]> = []
  let i = 0
  for (const part of lang.split(',')) {
    const [tag = '', ...params] = part.trim().split(';')
    let q = 1
    for (const p of params) {
      const [k, v] = p.trim().split('=')
      if (k === 'q' && v !== undefined && !Number.isNaN(Number(v))) q = Number(v)
    }
    if (tag !== '' && q > 0) weighted.push([tag.trim().toLowerCase(), q, i++])
  }
  weighted.sort((a, b) => b[1] - a[1] || a[2] - b[2])
  prefs = weighted.map(w => w[0])
  if (langMemo.size >= LANG_MEMO_LIMIT) langMemo.clear()
  langMemo.set(lang, prefs)
  return prefs
}

/** The entry of `map` for the preferred language: the requested tag (exact, then by primary
 * subtag), else `@none`, else any (4.15). */
function chooseLanguage (map: Readonly<Record<string, string | string[]>>, prefs: readonly string[]): [string, string | string[]] | undefined {
  const keys = Object.keys(map)
  if (keys.length === 0) return undefined
  for (const pref of prefs) {
    if (pref === '*') break
    for (const k of keys) if (k.toLowerCase() === pref) return [k, map[k] as string | string[]]
    for (const k of keys) {
      const lk = k.toLowerCase()
      if (lk.startsWith(pref + '-') || pref.startsWith(lk + '-')) return [k, map[k] as string | string[]]
    }
  }
  if (map['@none'] !== undefined) return ['@none', map['@none']]
  const first = keys[0] as string
  return [first, map[first] as string | string[]]
}

function isPrimitive (v: unknown): boolean {
  return v === null || (typeof v !== 'object' && v !== undefined)
}

/** A concise Property value that reads back as the same Property when written bare. */
function bareable (v: unknown): boolean {
  if (isPrimitive(v)) return v !== null
  if (!Array.isArray(v)) return false
  for (const x of v) if (!isPrimitive(x)) return false
  return true
}

function shown (name: string, alias: string, opts: RenderOptions): boolean {
  const { pick, omit } = opts
  if (pick !== undefined && !pick.has(name) && !pick.has(alias)) return false
  if (omit !== undefined && (omit.has(name) || omit.has(alias))) return false
  return true
}

function compactTypes (types: readonly string[], ctx: CompiledContext): string | string[] {
  return types.length === 1 ? ctx.compactIri(types[0] as string) : types.map(ctx.compactIri)
}

function keyValue (a: Attribute, ctx: CompiledContext, prefs: readonly string[] | undefined): unknown {
  switch (a.type) {
    case 'Relationship': return a.object
    case 'LanguageProperty': {
      if (prefs === undefined) return a.languageMap
      return chooseLanguage(a.languageMap ?? {}, prefs)?.[1]
    }
    case 'VocabularyProperty': return a.vocab === undefined ? undefined : ctx.compactVocab(a.vocab)
    case 'JsonProperty': return a.value
    case 'ListProperty': return a.valueList
    case 'ListRelationship': return a.objectList
    default: return a.value
  }
}

/**
 * One attribute instance in normalized or concise form. In concise form `multi` forbids the bare
 * value (an array of bare values would read back as one Property with an array value).
 */
function renderAttribute (a: Attribute, iri: string, ctx: CompiledContext, opts: RenderOptions, prefs: readonly string[] | undefined, multi: boolean): unknown {
  const concise = opts.format === 'concise'
  const o: Json = {}
  let kind = a.type
  let langTag: string | undefined
  let langText: string | string[] | undefined
  if (kind === 'LanguageProperty' && prefs !== undefined) {
    const chosen = chooseLanguage(a.languageMap ?? {}, prefs)
    if (chosen !== undefined) {
      kind = 'Property'
      langTag = chosen[0]
      langText = chosen[1]
    }
  }

  if (!concise) {
    o.type = KIND_TERM[kind]
  } else if (kind === 'GeoProperty' ? !GEO_PROPERTY_NAMES.has(iri) : kind === 'Property' && GEO_PROPERTY_NAMES.has(iri) && looksLikeGeometry(a.value)) {
    // the concise input rules would read `{ value: geometry }` as another kind
    o.type = KIND_TERM[kind]
  }

  switch (kind) {
    case 'Property':
      o.value = langTag !== undefined ? langText : a.value
      if (langTag !== undefined) o.lang = langTag
      break
    case 'GeoProperty': o.value = a.value; break
    case 'Relationship': o.object = a.object; break
    case 'LanguageProperty': o.languageMap = a.languageMap; break
    case 'VocabularyProperty': o.vocab = a.vocab === undefined ? undefined : ctx.compactVocab(a.vocab); break
    case 'JsonProperty': o.json = a.value; break
    case 'ListProperty': o.valueList = a.valueList; break
    case 'ListRelationship': o.objectList = a.objectList?.map(object => ({ object }))
  }

  let metadata = false
  if (a.datasetId !== undefined) { o.datasetId = a.datasetId; metadata = true }
  if (a.observedAt !== undefined) { o.observedAt = a.observedAt; metadata = true }
  if (a.unitCode !== undefined) { o.unitCode = a.unitCode; metadata = true }
  if (opts.sysAttrs) {
    if (a.createdAt !== undefined) { o.createdAt = a.createdAt; metadata = true }
    if (a.modifiedAt !== undefined) { o.modifiedAt = a.modifiedAt; metadata = true }
    if (a.writer !== undefined) { o[WRITER_MEMBER] = a.writer; metadata = true }
  }
  const sub = a.sub
  if (sub !== undefined) {
    for (const subIri of Object.keys(sub)) {
      o[ctx.compactIri(subIri)] = renderAttribute(sub[subIri] as Attribute, subIri, ctx, opts, prefs, false)
      metadata = true
    }
  }

  if (concise && !multi && !metadata && langTag === undefined) {
    // bare forms read back as the same attribute: a primitive (array) is a Property, a bare
    // geometry a GeoProperty
    if (kind === 'Property' && bareable(a.value)) return a.value
    if (kind === 'GeoProperty') return a.value
  }
  return o
}

/**
 * The entity in the requested representation. `id`/`type`/`scope` obey pick/omit (as `id`,
 * `type`, `scope` or their expanded forms); attributes obey attrs, pick and omit (expanded
 * names). With sysAttrs: createdAt/modifiedAt and ownerDomain on the entity, createdAt/
 * modifiedAt and writerDomain on every attribute instance (keyValues: on the entity only).
 */
export function compactEntity (entity: Entity, ctx: CompiledContext, opts: RenderOptions): Json {
  const out: Json = {}
  if (shown('id', '@id', opts)) out.id = entity.id
  if (entity.type.length > 0 && shown('type', '@type', opts)) out.type = compactTypes(entity.type, ctx)
  if (entity.scope !== undefined && entity.scope.length > 0 && shown('scope', SCOPE_IRI, opts)) {
    out.scope = entity.scope.length === 1 ? entity.scope[0] : entity.scope
  }
  if (opts.sysAttrs) {
    if (entity.createdAt !== undefined) out.createdAt = entity.createdAt
    if (entity.modifiedAt !== undefined) out.modifiedAt = entity.modifiedAt
    if (entity.owner !== undefined) out[OWNER_MEMBER] = entity.owner
  }
  const prefs = opts.lang !== undefined ? languagePreferences(opts.lang) : undefined
  const keyValues = opts.format === 'keyValues'
  const { attrs: filter, pick, omit } = opts
  const attrs = entity.attrs
  for (const iri of Object.keys(attrs)) {
    if (filter !== undefined && !filter.has(iri)) continue
    if (pick !== undefined && !pick.has(iri)) continue
    if (omit?.has(iri) === true) continue
    const instances = attrs[iri] as Attribute[]
    const n = instances.length
    if (n === 0) continue
    const name = ctx.compactIri(iri)
    if (keyValues) {
      if (n === 1) {
        out[name] = keyValue(instances[0] as Attribute, ctx, prefs)
      } else {
        const values = new Array<unknown>(n)
        for (let i = 0; i < n; i++) values[i] = keyValue(instances[i] as Attribute, ctx, prefs)
        out[name] = values
      }
    } else if (n === 1) {
      out[name] = renderAttribute(instances[0] as Attribute, iri, ctx, opts, prefs, false)
    } else {
      const rendered = new Array<unknown>(n)
      for (let i = 0; i < n; i++) rendered[i] = renderAttribute(instances[i] as Attribute, iri, ctx, opts, prefs, true)
      out[name] = rendered
    }
  }
  return out
}

export interface GeoJsonFeature {
  id: string
  type: 'Feature'
  geometry: unknown
  properties: Json
}

export interface GeoJsonFeatureCollection {
  type: 'FeatureCollection'
  features: GeoJsonFeature[]
}

/**
 * application/geo+json (4.5.16, 6.3.15): `{ id, type: 'Feature', geometry, properties }`.
 * `properties` is the compacted entity without `id` (its `type` is the entity type); `geometry`
 * is the value of the GeoProperty `geometryProperty` (a term or an IRI, default `location`;
 * its default instance, else its first), or null when the entity has none.
 */
export function toGeoJsonFeature (entity: Entity, ctx: CompiledContext, opts: RenderOptions, geometryProperty: string = LOCATION): GeoJsonFeature {
  const { id: _id, ...properties } = compactEntity(entity, ctx, opts)
  const instances = entity.attrs[ctx.expandTerm(geometryProperty)]
  let geometry: unknown = null
  if (instances !== undefined && instances.length > 0) {
    const a = instances.find(i => i.datasetId === undefined) ?? instances[0] as Attribute
    if (a.type === 'GeoProperty' && a.value !== undefined) geometry = a.value
  }
  return { id: entity.id, type: 'Feature', geometry, properties }
}

/** A FeatureCollection of `entities` (query results, notifications with accept geo+json). */
export function toFeatureCollection (entities: Iterable<Entity>, ctx: CompiledContext, opts: RenderOptions, geometryProperty: string = LOCATION): GeoJsonFeatureCollection {
  const features: GeoJsonFeature[] = []
  for (const e of entities) features.push(toGeoJsonFeature(e, ctx, opts, geometryProperty))
  return { type: 'FeatureCollection', features }
}

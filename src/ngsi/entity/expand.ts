/**
 * Input: request bodies (normalized or concise, NGSI-LD 4.5) → the internal model (types.ts),
 * every name expanded against the request's @context, everything validated. Each problem is a
 * BadRequestDataError whose message names the attribute (dotted path for sub-attributes).
 *
 * Concise rules (4.5.3): a bare JSON value is a Property; an object is typed by its value
 * member (value → Property, object → Relationship, languageMap → LanguageProperty, vocab →
 * VocabularyProperty, json → JsonProperty, valueList → ListProperty, objectList →
 * ListRelationship); a bare GeoJSON geometry, or a geometry `value` under location /
 * observationSpace / operationSpace, is a GeoProperty; an explicit `type` wins. An array whose
 * elements are all attribute objects is a multi-instance attribute; any other array is a value.
 */
import type { CompiledContext } from '../context/index.ts'
import { isKeyword } from '../context/index.ts'
import { BadRequestDataError } from '../errors.ts'
import type { Attribute, AttributeKind, Entity } from '../types.ts'
import { NGSI_LD, NGSI_LD_NULL } from '../types.ts'
import {
  ABSOLUTE_URI, ATTRIBUTE_IGNORED, ATTRIBUTE_MEMBERS, ATTRIBUTE_REJECTED, DATE_TIME, ENTITY_IGNORED,
  ENTITY_SYSTEM_REJECTED, FORBIDDEN_NAME_CHARS, GEO_PROPERTY_NAMES, GEOMETRY_TYPES, KIND_ALIASES, KIND_BY_IRI,
  KIND_BY_MEMBER, KIND_TERM, LANGUAGE_TAG, MAX_SUB_DEPTH, SCOPE, VALUE_MEMBER
} from './constants.ts'
import { looksLikeGeometry, validateGeometry } from './geometry.ts'
import type {
  AttributePatch, AttributesPatch, Deletion, EntityPatch, ExpandAttributeOptions, ExpandAttributesOptions, ExpandEntityOptions
} from './interface.ts'

type Json = Record<string, unknown>

const VALUE_MEMBERS = [...KIND_BY_MEMBER.keys()]
// Expanded forms of names that are entity members, not attributes ("ngsi-ld:createdAt" …).
const RESERVED_IRIS: ReadonlySet<string> = new Set(['id', 'type', 'scope', 'createdAt', 'modifiedAt', 'deletedAt'].map(n => NGSI_LD + n))

function isObject (v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function bad (message: string, attribute?: string): BadRequestDataError {
  return new BadRequestDataError(message, attribute !== undefined ? { attribute } : {})
}

function show (v: unknown): string {
  const s = JSON.stringify(v) ?? String(v)
  return s.length > 80 ? s.slice(0, 77) + '...' : s
}

export function isUri (v: unknown): v is string {
  return typeof v === 'string' && ABSOLUTE_URI.test(v)
}

export function isDateTime (v: unknown): v is string {
  return typeof v === 'string' && DATE_TIME.test(v) && !Number.isNaN(Date.parse(v))
}

/** NGSI-LD Null in any of the shapes a value member can take (5.2.1, V1.9.1). */
function isNull (v: unknown, member: string): boolean {
  if (v === null || v === NGSI_LD_NULL) return true
  if (Array.isArray(v)) return v.length === 1 && v[0] === NGSI_LD_NULL
  if (member === 'languageMap' && isObject(v)) {
    const keys = Object.keys(v)
    return keys.length === 1 && keys[0] === '@none' && v['@none'] === NGSI_LD_NULL
  }
  return false
}

/** A multi-instance attribute: a non-empty array of attribute objects. */
function isInstanceArray (v: unknown[]): boolean {
  if (v.length === 0) return false
  for (const item of v) {
    if (!isObject(item)) return false
    if (!('type' in item) && !('datasetId' in item) && !VALUE_MEMBERS.some(m => m in item)) return false
  }
  return true
}

/** Checks a name (attribute, sub-attribute or type) as written by the client. */
function checkName (name: string, what: string): void {
  if (name === '') throw bad(`${what} name must not be empty`)
  const m = FORBIDDEN_NAME_CHARS.exec(name)
  if (m !== null) throw bad(`${what} name ${show(name)} contains the forbidden character ${show(m[0])}`, name)
}

/** Where a (sub-)attribute sits, for deletion markers. */
interface Loc { attr: string, datasetId?: string, path: string[] }

class Expander {
  readonly deletions: Deletion[] = []

  constructor (private readonly ctx: CompiledContext, private readonly allowNull: boolean, private readonly partial: boolean) {}

  attributeName (name: string, what = 'attribute'): string {
    checkName(name, what)
    const iri = this.ctx.expandTerm(name)
    if (isKeyword(iri) || iri.startsWith('@')) throw bad(`${what} ${show(name)} maps to the JSON-LD keyword ${iri}`, name)
    if (RESERVED_IRIS.has(iri)) throw bad(`${what} ${show(name)} is a reserved NGSI-LD name`, name)
    return iri
  }

  types (raw: unknown): string[] {
    const list = typeof raw === 'string' ? [raw] : raw
    if (!Array.isArray(list) || list.length === 0) throw bad('type must be a string or a non-empty array of strings')
    const out: string[] = []
    for (const t of list) {
      if (typeof t !== 'string') throw bad(`type ${show(t)} is not a string`)
      checkName(t, 'type')
      const iri = this.ctx.expandTerm(t)
      if (iri.startsWith('@')) throw bad(`type ${show(t)} maps to the JSON-LD keyword ${iri}`)
      if (!out.includes(iri)) out.push(iri)
    }
    return out
  }

  scope (raw: unknown): string[] {
    const list = typeof raw === 'string' ? [raw] : raw
    if (!Array.isArray(list)) throw bad('scope must be a string or an array of strings')
    const out: string[] = []
    for (const s of list) {
      if (typeof s !== 'string' || !SCOPE.test(s)) throw bad(`scope ${show(s)} is not a scope (/level/level…)`)
      if (!out.includes(s)) out.push(s)
    }
    return out
  }

  /** All instances of the attribute `name` (expanded `iri`) given as `raw`. */
  instances<T extends Partial<Attribute>> (name: string, iri: string, raw: unknown): T[] {
    if (Array.isArray(raw) && isInstanceArray(raw)) {
      const out: T[] = []
      const seen = new Set<string | undefined>()
      for (const item of raw) {
        const ds = (item as Json).datasetId
        const key = typeof ds === 'string' ? ds : undefined
        if (seen.has(key)) {
          throw bad(key === undefined
            ? `attribute ${name}: more than one default instance (without datasetId)`
            : `attribute ${name}: duplicate datasetId ${key}`, name)
        }
        seen.add(key)
        const a = this.instance(name, iri, item, undefined, 0)
        if (a !== null) out.push(a as T)
      }
      // default instance first, then by datasetId (types.ts)
      out.sort((a, b) => a.datasetId === b.datasetId ? 0 : a.datasetId === undefined ? -1 : b.datasetId === undefined ? 1 : a.datasetId < b.datasetId ? -1 : 1)
      return out
    }
    const a = this.instance(name, iri, raw, undefined, 0)
    return a === null ? [] : [a as T]
  }

  /** One instance; null when it is a deletion (recorded in `deletions`). */
  private instance (label: string, iri: string, raw: unknown, parent: Loc | undefined, depth: number): Partial<Attribute> | null {
    if (raw === undefined) throw bad(`attribute ${label} has no value`, label)
    if (raw === null || raw === NGSI_LD_NULL) {
      this.nullAt(label, parent === undefined ? { attr: iri, path: [] } : { ...parent, path: [...parent.path, iri] })
      return null
    }
    if (!isObject(raw)) {
      if (Array.isArray(raw) && depth > 0 && isInstanceArray(raw)) throw bad(`sub-attribute ${label} cannot have several instances`, label)
      return { type: 'Property', value: raw }
    }
    if (looksLikeGeometry(raw) && !VALUE_MEMBERS.some(m => m in raw)) {
      const problem = validateGeometry(raw)
      if (problem !== null) throw bad(`attribute ${label}: invalid GeoJSON geometry: ${problem}`, label)
      return { type: 'GeoProperty', value: raw }
    }
    return this.attributeObject(label, iri, raw, parent, depth)
  }

  private kindOf (label: string, t: unknown, o: Json): AttributeKind {
    if (typeof t !== 'string') throw bad(`attribute ${label}: type must be a string`, label)
    const kind = KIND_ALIASES.get(t) ?? KIND_BY_IRI.get(this.ctx.expandTerm(t))
    if (kind !== undefined) return kind
    if (GEOMETRY_TYPES.has(t)) throw bad(`attribute ${label}: invalid GeoJSON geometry: ${validateGeometry(o) ?? 'not a geometry here'}`, label)
    throw bad(`attribute ${label}: unknown attribute type ${show(t)}`, label)
  }

  private attributeObject (label: string, iri: string, o: Json, parent: Loc | undefined, depth: number): Partial<Attribute> | null {
    const present = VALUE_MEMBERS.filter(m => m in o)
    let kind: AttributeKind | undefined
    let member: string | undefined
    if (o.type !== undefined) {
      kind = this.kindOf(label, o.type, o)
      member = VALUE_MEMBER[kind]
      for (const m of present) {
        if (m !== member) throw bad(`attribute ${label}: a ${KIND_TERM[kind]} cannot have ${m}`, label)
      }
      if (present.length === 0) {
        if (!this.partial) throw bad(`attribute ${label}: a ${KIND_TERM[kind]} needs ${member}`, label)
        member = undefined
      }
    } else if (present.length > 1) {
      throw bad(`attribute ${label}: ${present.join(' and ')} cannot be combined`, label)
    } else if (present.length === 0) {
      if (!this.partial) {
        throw bad(`attribute ${label} has no value (a Relationship needs object, a Property value, ` +
          'or one of languageMap, vocab, json, valueList, objectList)', label)
      }
    } else {
      member = present[0] as string
      if (member !== 'value') kind = KIND_BY_MEMBER.get(member)
      else if (GEO_PROPERTY_NAMES.has(iri) && looksLikeGeometry(o.value)) kind = 'GeoProperty'
      // In a partial update a bare `value` may belong to a Property or a GeoProperty: the stored
      // attribute decides (mergeAttribute), so the kind stays open.
      else if (!this.partial) kind = 'Property'
    }

    const ds = o.datasetId
    if (ds !== undefined && !isUri(ds)) throw bad(`attribute ${label}: datasetId ${show(ds)} is not a URI`, label)
    const datasetId = ds as string | undefined
    const here: Loc = parent === undefined
      ? { attr: iri, path: [], ...(datasetId !== undefined ? { datasetId } : {}) }
      : { ...parent, path: [...parent.path, iri] }

    if (member !== undefined && isNull(o[member], member)) {
      this.nullAt(label, here)
      return null
    }

    const attr: Partial<Attribute> = {}
    if (kind !== undefined) attr.type = kind
    if (member !== undefined) this.valueMember(label, kind, member, o[member], attr)
    if (datasetId !== undefined) attr.datasetId = datasetId

    for (const key of Object.keys(o)) {
      if (key === 'type' || key === 'datasetId' || (KIND_BY_MEMBER.has(key))) continue
      const v = o[key]
      if (key === 'observedAt' || key === 'unitCode') {
        if (v === null || v === NGSI_LD_NULL) {
          this.nullAt(`${label}.${key}`, { ...here, path: [...here.path, key] })
        } else if (key === 'observedAt') {
          if (!isDateTime(v)) throw bad(`attribute ${label}: observedAt ${show(v)} is not an ISO 8601 DateTime`, label)
          attr.observedAt = v
        } else {
          if (typeof v !== 'string' || v === '') throw bad(`attribute ${label}: unitCode must be a non-empty string`, label)
          attr.unitCode = v
        }
        continue
      }
      if (ATTRIBUTE_IGNORED.has(key)) continue
      const rejected = ATTRIBUTE_REJECTED.get(key)
      if (rejected !== undefined) throw bad(`attribute ${label}: ${rejected}`, label)
      if (depth + 1 > MAX_SUB_DEPTH) throw bad(`attribute ${label}: sub-attributes nested deeper than ${MAX_SUB_DEPTH} levels`, label)
      const subLabel = `${label}.${key}`
      const subIri = this.attributeName(key, 'sub-attribute')
      if (attr.sub?.[subIri] !== undefined) throw bad(`sub-attribute ${subLabel} is given twice`, subLabel)
      const sub = this.instance(subLabel, subIri, v, here, depth + 1)
      if (sub === null) continue
      if (sub.type === undefined) {
        // partial mode left the kind open; a sub-attribute is replaced whole, so settle it
        sub.type = 'Property'
      }
      attr.sub ??= {}
      attr.sub[subIri] = sub as Attribute
    }
    return attr
  }

  private valueMember (label: string, kind: AttributeKind | undefined, member: string, v: unknown, attr: Partial<Attribute>): void {
    switch (member) {
      case 'value':
        if (v === undefined) throw bad(`attribute ${label}: value is missing`, label)
        if (kind === 'GeoProperty') {
          const problem = validateGeometry(v)
          if (problem !== null) throw bad(`attribute ${label}: invalid GeoJSON geometry: ${problem}`, label)
        }
        attr.value = v
        return
      case 'object':
        if (Array.isArray(v)) {
          if (v.length === 0) throw bad(`attribute ${label}: object must not be an empty array`, label)
          for (const o of v) if (!isUri(o)) throw bad(`attribute ${label}: object ${show(o)} is not a URI`, label)
          attr.object = v as string[]
        } else {
          if (!isUri(v)) throw bad(`attribute ${label}: object ${show(v)} is not a URI`, label)
          attr.object = v
        }
        return
      case 'languageMap': {
        if (!isObject(v)) throw bad(`attribute ${label}: languageMap must be an object of language tag → string`, label)
        const map: Record<string, string | string[]> = {}
        for (const [tag, text] of Object.entries(v)) {
          if (!LANGUAGE_TAG.test(tag)) throw bad(`attribute ${label}: ${show(tag)} is not a language tag`, label)
          if (typeof text === 'string') map[tag] = text
          else if (Array.isArray(text) && text.every(t => typeof t === 'string')) map[tag] = text as string[]
          else throw bad(`attribute ${label}: languageMap[${tag}] must be a string or an array of strings`, label)
        }
        attr.languageMap = map
        return
      }
      case 'vocab':
        if (typeof v === 'string' && v !== '') {
          attr.vocab = this.ctx.expandVocab(v)
        } else if (Array.isArray(v) && v.length > 0 && v.every(x => typeof x === 'string' && x !== '')) {
          attr.vocab = this.ctx.expandVocab(v as string[])
        } else {
          throw bad(`attribute ${label}: vocab must be a string or a non-empty array of strings`, label)
        }
        return
      case 'json':
        if (v === undefined) throw bad(`attribute ${label}: json is missing`, label)
        attr.value = v
        return
      case 'valueList':
        if (!Array.isArray(v)) throw bad(`attribute ${label}: valueList must be an array`, label)
        attr.valueList = v
        return
      case 'objectList': {
        if (!Array.isArray(v)) throw bad(`attribute ${label}: objectList must be an array`, label)
        // normalized form lists {"object": uri}; concise form may list the URIs themselves
        const ids = v.map(x => isObject(x) && Object.keys(x).length === 1 ? x.object : x)
        for (const id of ids) if (!isUri(id)) throw bad(`attribute ${label}: objectList item ${show(id)} is not a URI`, label)
        attr.objectList = ids as string[]
      }
    }
  }

  private nullAt (label: string, loc: Loc): void {
    if (!this.allowNull) {
      throw bad(`attribute ${label}: null (or NGSI-LD Null) is only allowed in merge and update operations`, label)
    }
    const d: Deletion = { attr: loc.attr }
    if (loc.datasetId !== undefined) d.datasetId = loc.datasetId
    if (loc.path.length > 0) d.path = loc.path
    this.deletions.push(d)
  }
}

/** Writes a parsed attribute into `attrs`, refusing two names for the same IRI. */
function put (attrs: Record<string, Attribute[]>, name: string, iri: string, instances: Attribute[]): void {
  if (Object.hasOwn(attrs, iri)) throw bad(`attribute ${name} is given twice (under two names with the same IRI)`, name)
  if (instances.length > 0) attrs[iri] = instances
}

function attributesOf (e: Expander, body: Json, attrs: Record<string, Attribute[]>, skip: ReadonlySet<string>): void {
  for (const key of Object.keys(body)) {
    if (skip.has(key) || ENTITY_IGNORED.has(key)) continue
    if (ENTITY_SYSTEM_REJECTED.has(key)) throw bad(`${key} is set by the system and cannot be given`, key)
    const iri = e.attributeName(key)
    put(attrs, key, iri, e.instances<Attribute>(key, iri, body[key]))
  }
}

const ENTITY_MEMBERS: ReadonlySet<string> = new Set(['id', 'type', 'scope'])

function expandEntityWith (body: unknown, ctx: CompiledContext, opts: ExpandEntityOptions, allowNull: boolean): EntityPatch {
  if (!isObject(body)) throw bad('an entity must be a JSON object')
  let id: string
  if (body.id === undefined) {
    if (opts.entityId === undefined) throw bad('id is missing')
    id = opts.entityId
  } else {
    if (!isUri(body.id)) throw bad(`id ${show(body.id)} is not a URI (scheme:rest)`)
    if (opts.entityId !== undefined && body.id !== opts.entityId) throw bad(`id ${body.id} does not match the entity ${opts.entityId} of the URL`)
    id = body.id
  }
  const e = new Expander(ctx, allowNull, false)
  let type: string[] = []
  if (body.type !== undefined) type = e.types(body.type)
  else if (opts.requireType) throw bad('type is missing')
  const entity: Entity = { id, type, attrs: {} }
  if (body.scope !== undefined) entity.scope = e.scope(body.scope)
  attributesOf(e, body, entity.attrs, ENTITY_MEMBERS)
  return { entity, deletions: e.deletions }
}

/**
 * Create / replace / upsert body → Entity. `id` must be a URI (or come from `opts.entityId`),
 * `type` is required when `opts.requireType`. createdAt/modifiedAt/deletedAt and `@context`
 * are ignored; ownerDomain/writerDomain rejected; null values rejected (see expandEntityPatch).
 */
export function expandEntity (body: unknown, ctx: CompiledContext, opts: ExpandEntityOptions): Entity {
  return expandEntityWith(body, ctx, opts, false).entity
}

/**
 * Merge body (PATCH /entities/{id}, batch merge) → the entity without the deleted parts, plus
 * the deletions that null / NGSI-LD Null asked for.
 */
export function expandEntityPatch (body: unknown, ctx: CompiledContext, opts: ExpandEntityOptions): EntityPatch {
  return expandEntityWith(body, ctx, opts, true)
}

/**
 * Append / update / merge-attributes body (an object of attributes). `id` and `type`, when the
 * body has them, must match `opts.entityId` / `opts.entityType`; `scope` is returned apart.
 */
export function expandAttributes (body: unknown, ctx: CompiledContext, opts: ExpandAttributesOptions = {}): AttributesPatch {
  if (!isObject(body)) throw bad('the attributes must be a JSON object')
  const e = new Expander(ctx, opts.allowNull ?? false, false)
  const result: AttributesPatch = { attrs: {}, deletions: e.deletions }
  if (body.id !== undefined) {
    if (!isUri(body.id)) throw bad(`id ${show(body.id)} is not a URI (scheme:rest)`)
    if (opts.entityId !== undefined && body.id !== opts.entityId) throw bad(`id ${body.id} does not match the entity ${opts.entityId} of the URL`)
  }
  if (body.type !== undefined) {
    result.type = e.types(body.type)
    if (opts.entityType !== undefined) {
      for (const t of result.type) {
        if (!opts.entityType.includes(t)) throw bad(`type ${ctx.compactIri(t)} does not match the entity's type`)
      }
    }
  }
  if (body.scope !== undefined) result.scope = e.scope(body.scope)
  attributesOf(e, body, result.attrs, ENTITY_MEMBERS)
  return result
}

/** The attribute body of PUT/PATCH …/attrs/{attrId}: the attribute itself, or `{ name: attr }`. */
function unwrap (name: string, iri: string, body: unknown, ctx: CompiledContext): unknown {
  if (!isObject(body)) return body
  const keys = Object.keys(body)
  if (keys.length === 1) {
    const k = keys[0] as string
    if (!ATTRIBUTE_MEMBERS.has(k) && (k === name || ctx.expandTerm(k) === iri)) return body[k]
  }
  return body
}

/**
 * PUT /entities/{id}/attrs/{attrId} (replace attribute): `attrName` as in the URL (a term or an
 * IRI), `body` the attribute (one instance or an array of instances), with or without its name.
 */
export function expandAttribute (attrName: string, body: unknown, ctx: CompiledContext, opts: ExpandAttributeOptions = {}): AttributePatch {
  const e = new Expander(ctx, opts.allowNull ?? false, false)
  const iri = e.attributeName(attrName)
  const instances = e.instances<Attribute>(attrName, iri, unwrap(attrName, iri, body, ctx))
  return { name: iri, instances, deletions: e.deletions }
}

/**
 * PATCH /entities/{id}/attrs/{attrId} (partial attribute update, 5.6.4): like expandAttribute,
 * but every member is optional and `type` stays unset unless the body settles it (a bare
 * `value` may update a Property or a GeoProperty). Apply each fragment with mergeAttribute.
 */
export function expandAttributeFragment (attrName: string, body: unknown, ctx: CompiledContext, opts: ExpandAttributeOptions = {}): AttributePatch<Partial<Attribute>> {
  const e = new Expander(ctx, opts.allowNull ?? false, true)
  const iri = e.attributeName(attrName)
  const raw = unwrap(attrName, iri, body, ctx)
  if (!isObject(raw) && !Array.isArray(raw) && raw !== null && raw !== NGSI_LD_NULL) {
    throw bad(`attribute ${attrName}: a partial update needs an object with the members to change`, attrName)
  }
  const instances = e.instances<Partial<Attribute>>(attrName, iri, raw)
  return { name: iri, instances, deletions: e.deletions }
}

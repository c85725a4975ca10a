/**
 * Reading Subscription bodies (5.2.12) and Subscription fragments (5.8.2) into SubscriptionRecords:
 * every member checked, names expanded with the request's @context, q / geoQ / type selectors
 * parsed (so a bad one is a 400 now, not a silent non-match later). Errors are
 * BadRequestDataError with a message that starts with the member: `notification.endpoint.uri: …`.
 */
import { randomUUID } from 'node:crypto'
import { CORE_CONTEXT_URL, type CompiledContext } from '../context/index.ts'
import { isDateTime, isUri } from '../entity/index.ts'
import { BadRequestDataError, InvalidRequestError, NgsiError, NotImplementedError } from '../errors.ts'
import {
  bindGeoQuery, bindQ, bindTypeSelector, parseGeoQuery, parseQ, parseTypeSelector, MAX_PATTERN_LENGTH,
  type TypeSelector
} from '../query/index.ts'
import type { Format } from '../types.ts'
import { ACCEPT_TYPES, RESERVED_HEADERS, TRIGGERS } from './constants.ts'
import type {
  EndpointRecord, EntitySelectorRecord, GeoQRecord, KeyValuePair, NotificationAccept, NotificationRecord,
  NotificationTrigger, SubscriptionRecord
} from './interface.ts'

type Json = Record<string, unknown>

/** Members a client may set. */
const MEMBERS: ReadonlySet<string> = new Set([
  'id', 'type', 'subscriptionName', 'description', 'entities', 'watchedAttributes', 'notificationTrigger', 'q', 'geoQ',
  'isActive', 'expiresAt', 'throttling', 'timeInterval', 'lang', 'jsonldContext', 'notification', '@context'
])
/** Members the broker provides; a client sending back what it read (GET, edit, PATCH) is not an error. */
const READ_ONLY: ReadonlySet<string> = new Set(['status', 'createdAt', 'modifiedAt', 'deletedAt'])
/** Valid NGSI-LD members this broker does not implement: 501 rather than a silent no-op. */
const NOT_IMPLEMENTED: Readonly<Record<string, string>> = {
  csf: 'csf: context source filters are not supported (this broker has no context source registrations)',
  scopeQ: 'scopeQ: scope queries are not supported in subscriptions'
}
const NOTIFICATION_MEMBERS: ReadonlySet<string> = new Set(['attributes', 'format', 'sysAttrs', 'showChanges', 'endpoint'])
const NOTIFICATION_READ_ONLY: ReadonlySet<string> = new Set([
  'status', 'timesSent', 'timesFailed', 'timesDropped', 'lastNotification', 'lastSuccess', 'lastFailure'
])
const ENDPOINT_MEMBERS: ReadonlySet<string> = new Set(['uri', 'accept', 'timeout', 'cooldown', 'receiverInfo', 'notifierInfo'])
const FORMATS: ReadonlySet<string> = new Set(['normalized', 'concise', 'keyValues'])
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const HEADER_VALUE = /^[^\r\n\u0000]*$/
/** Characters that would end a name when the stored type selector is read back. */
const SELECTOR_DELIMITERS = /[\s,|;()]/

function bad (member: string, problem: string): BadRequestDataError {
  return new BadRequestDataError(`${member}: ${problem}`, { member })
}

function isObject (v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

/** Query-language errors name the parameter; in a body they are BadRequestData about the member. */
function asBodyError (err: unknown, member: string): unknown {
  if (err instanceof InvalidRequestError) {
    const param = typeof err.data.parameter === 'string' ? err.data.parameter : undefined
    const text = param !== undefined && err.message.startsWith(param + ': ') ? err.message.slice(param.length + 2) : err.message
    return new BadRequestDataError(`${member}: ${text}`, { ...err.data, member })
  }
  if (err instanceof NgsiError) return err
  if (err instanceof SyntaxError) return bad(member, err.message)
  return err
}

function str (v: unknown, member: string): string {
  if (typeof v !== 'string') throw bad(member, 'expected a string')
  return v
}

function nonEmptyString (v: unknown, member: string): string {
  if (typeof v !== 'string' || v.trim() === '') throw bad(member, 'expected a non-empty string')
  return v
}

function bool (v: unknown, member: string): boolean {
  if (typeof v !== 'boolean') throw bad(member, 'expected true or false')
  return v
}

function number (v: unknown, member: string, min: number, exclusive: boolean): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(member, 'expected a number')
  if (exclusive ? v <= min : v < min) throw bad(member, `expected a number ${exclusive ? '>' : '≥'} ${min}, got ${v}`)
  return v
}

function uri (v: unknown, member: string): string {
  if (!isUri(v)) throw bad(member, `expected a URI, got ${JSON.stringify(v)}`)
  return v
}

/** An attribute name expanded with the request's @context (never to a keyword such as @id). */
function attributeName (v: unknown, member: string, ctx: CompiledContext): string {
  const name = nonEmptyString(v, member)
  if (/\s/.test(name)) throw bad(member, `'${name}' is not an attribute name`)
  const iri = ctx.expandTerm(name)
  if (iri.startsWith('@')) throw bad(member, `'${name}' is not an attribute name (it maps to ${iri})`)
  return iri
}

function nameList (v: unknown, member: string, ctx: CompiledContext): string[] {
  if (!Array.isArray(v) || v.length === 0) throw bad(member, 'expected a non-empty array of attribute names')
  return [...new Set(v.map((n, i) => attributeName(n, `${member}[${i}]`, ctx)))]
}

/** Writes a type selector back as text; `and` inside `or` needs no parentheses (`;` binds tighter). */
export function printTypeSelector (sel: TypeSelector, name: (n: string) => string = n => n): string {
  switch (sel.kind) {
    case 'type': return name(sel.name)
    case 'or': return sel.children.map(c => printTypeSelector(c, name)).join(',')
    case 'and': return sel.children.map(c => c.kind === 'or' ? `(${printTypeSelector(c, name)})` : printTypeSelector(c, name)).join(';')
  }
}

function typeNames (sel: TypeSelector): string[] {
  return sel.kind === 'type' ? [sel.name] : sel.children.flatMap(typeNames)
}

function entitySelector (v: unknown, member: string, ctx: CompiledContext): EntitySelectorRecord {
  if (!isObject(v)) throw bad(member, 'expected an object {id?, idPattern?, type}')
  for (const k of Object.keys(v)) if (k !== 'id' && k !== 'idPattern' && k !== 'type') throw bad(`${member}.${k}`, 'not a member of an entity selector (id, idPattern, type)')
  if (v.type === undefined) throw bad(`${member}.type`, 'missing; every entity selector needs a type')
  const text = nonEmptyString(v.type, `${member}.type`)
  let bound
  try {
    bound = bindTypeSelector(parseTypeSelector(text), ctx.expandTerm)
  } catch (err) {
    throw asBodyError(err, `${member}.type`)
  }
  for (const n of typeNames(bound.selector)) {
    if (n.startsWith('@') || SELECTOR_DELIMITERS.test(n)) throw bad(`${member}.type`, `'${text}' names a type that expands to ${n}, which is not a type IRI`)
  }
  const out: EntitySelectorRecord = { type: printTypeSelector(bound.selector) }
  if (v.id !== undefined) out.id = uri(v.id, `${member}.id`)
  if (v.idPattern !== undefined) {
    const p = nonEmptyString(v.idPattern, `${member}.idPattern`)
    if (p.length > MAX_PATTERN_LENGTH) throw bad(`${member}.idPattern`, `longer than ${MAX_PATTERN_LENGTH} characters`)
    try { new RegExp(p) } catch (err) { throw bad(`${member}.idPattern`, `not a valid regular expression: ${(err as Error).message}`) }
    out.idPattern = p
  }
  return out
}

function readQ (v: unknown, ctx: CompiledContext): { q: string, qTerms: Record<string, string> } {
  const text = nonEmptyString(v, 'q')
  // Records every term the binding expands, so the stored q can be bound again without the @context.
  const terms: Record<string, string> = Object.create(null) as Record<string, string>
  try {
    bindQ(parseQ(text), term => {
      const iri = ctx.expandTerm(term)
      terms[term] = iri
      return iri
    })
  } catch (err) {
    throw asBodyError(err, 'q')
  }
  return { q: text, qTerms: { ...terms } }
}

function readGeoQ (v: unknown, ctx: CompiledContext): GeoQRecord {
  if (!isObject(v)) throw bad('geoQ', 'expected an object {geometry, coordinates, georel, geoproperty?}')
  for (const k of Object.keys(v)) if (!['geometry', 'coordinates', 'georel', 'geoproperty'].includes(k)) throw bad(`geoQ.${k}`, 'not a member of a geo-query')
  let gq
  try {
    gq = parseGeoQuery({ georel: v.georel as string, geometry: v.geometry as string, coordinates: v.coordinates, geoproperty: v.geoproperty as string | undefined }, { source: 'body' })
  } catch (err) {
    throw asBodyError(err, 'geoQ')
  }
  if (gq === null) throw bad('geoQ', 'georel, geometry and coordinates are required')
  const out: GeoQRecord = { geometry: gq.geometry.type, coordinates: (gq.geometry as { coordinates: unknown }).coordinates, georel: str(v.georel, 'geoQ.georel') }
  if (gq.geoproperty !== undefined) {
    const bound = bindGeoQuery(gq, ctx.expandTerm)
    if (bound.geoproperty.startsWith('@')) throw bad('geoQ.geoproperty', `'${gq.geoproperty}' is not a GeoProperty name`)
    out.geoproperty = bound.geoproperty
  }
  return out
}

function keyValues (v: unknown, member: string, headers: boolean): KeyValuePair[] {
  if (!Array.isArray(v)) throw bad(member, 'expected an array of {key, value}')
  return v.map((kv, i) => {
    const m = `${member}[${i}]`
    if (!isObject(kv)) throw bad(m, 'expected an object {key, value}')
    for (const k of Object.keys(kv)) if (k !== 'key' && k !== 'value') throw bad(`${m}.${k}`, 'not a member of a key-value pair')
    const key = nonEmptyString(kv.key, `${m}.key`)
    const value = str(kv.value, `${m}.value`)
    if (headers) {
      if (!HEADER_NAME.test(key)) throw bad(`${m}.key`, `'${key}' cannot be an HTTP header name`)
      if (RESERVED_HEADERS.has(key.toLowerCase())) throw bad(`${m}.key`, `the header ${key} is set by the broker`)
      if (!HEADER_VALUE.test(value)) throw bad(`${m}.value`, 'an HTTP header value cannot contain line breaks')
    }
    return { key, value }
  })
}

/** Endpoint members; with `current`, a fragment merged into it (null removes an optional member). */
function readEndpoint (v: unknown, current: EndpointRecord | undefined): EndpointRecord {
  const member = 'notification.endpoint'
  if (!isObject(v)) throw bad(member, 'expected an object {uri, accept?, timeout?, cooldown?, receiverInfo?, notifierInfo?}')
  for (const k of Object.keys(v)) if (!ENDPOINT_MEMBERS.has(k)) throw bad(`${member}.${k}`, 'not a member of an endpoint')
  const out: Partial<EndpointRecord> = current !== undefined ? { ...current } : {}
  if (v.uri !== undefined || current === undefined) {
    if (v.uri === undefined || v.uri === null) throw bad(`${member}.uri`, 'missing')
    const text = nonEmptyString(v.uri, `${member}.uri`)
    let url: URL
    try { url = new URL(text) } catch { throw bad(`${member}.uri`, `'${text}' is not an absolute URL`) }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad(`${member}.uri`, `only http and https endpoints are supported, not ${url.protocol.slice(0, -1)}`)
    if (url.hostname === '') throw bad(`${member}.uri`, `'${text}' has no host`)
    // fetch refuses URLs with credentials; they belong in a header, where logs do not show them
    if (url.username !== '' || url.password !== '') throw bad(`${member}.uri`, 'must not contain credentials; send them with receiverInfo (e.g. an Authorization header)')
    out.uri = text
  }
  if (v.accept === null) out.accept = 'application/json'
  else if (v.accept !== undefined) {
    if (!(ACCEPT_TYPES as readonly unknown[]).includes(v.accept)) throw bad(`${member}.accept`, `expected one of ${ACCEPT_TYPES.join(', ')}, got ${JSON.stringify(v.accept)}`)
    out.accept = v.accept as NotificationAccept
  }
  out.accept ??= 'application/json'
  const optional = <K extends 'timeout' | 'cooldown' | 'receiverInfo' | 'notifierInfo'>(k: K, read: (x: unknown) => EndpointRecord[K]): void => {
    if (v[k] === null) delete out[k]
    else if (v[k] !== undefined) out[k] = read(v[k])
  }
  optional('timeout', x => number(x, `${member}.timeout`, 1, false))
  optional('cooldown', x => number(x, `${member}.cooldown`, 1, false))
  optional('receiverInfo', x => keyValues(x, `${member}.receiverInfo`, true))
  optional('notifierInfo', x => keyValues(x, `${member}.notifierInfo`, false))
  return out as EndpointRecord
}

function readNotification (v: unknown, ctx: CompiledContext, current: NotificationRecord | undefined): NotificationRecord {
  if (!isObject(v)) throw bad('notification', 'expected an object with at least an endpoint')
  for (const k of Object.keys(v)) {
    if (!NOTIFICATION_MEMBERS.has(k) && !NOTIFICATION_READ_ONLY.has(k)) throw bad(`notification.${k}`, 'not a member of notification parameters')
  }
  const out: Partial<NotificationRecord> = current !== undefined ? { ...current } : { format: 'normalized', sysAttrs: false, showChanges: false }
  if (v.attributes === null) delete out.attributes
  else if (v.attributes !== undefined) out.attributes = nameList(v.attributes, 'notification.attributes', ctx)
  if (v.format === null) out.format = 'normalized'
  else if (v.format !== undefined) {
    if (typeof v.format !== 'string' || !FORMATS.has(v.format)) throw bad('notification.format', `expected normalized, concise or keyValues, got ${JSON.stringify(v.format)}`)
    out.format = v.format as Format
  }
  if (v.sysAttrs === null) out.sysAttrs = false
  else if (v.sysAttrs !== undefined) out.sysAttrs = bool(v.sysAttrs, 'notification.sysAttrs')
  if (v.showChanges === null) out.showChanges = false
  else if (v.showChanges !== undefined) out.showChanges = bool(v.showChanges, 'notification.showChanges')
  if (v.endpoint === null) throw bad('notification.endpoint', 'cannot be removed')
  if (v.endpoint !== undefined) out.endpoint = readEndpoint(v.endpoint, current?.endpoint)
  else if (current === undefined) throw bad('notification.endpoint', 'missing')
  return out as NotificationRecord
}

function triggers (v: unknown): NotificationTrigger[] {
  if (!Array.isArray(v) || v.length === 0) throw bad('notificationTrigger', `expected a non-empty array of ${TRIGGERS.join(', ')}`)
  return [...new Set(v.map((t, i) => {
    if (!(TRIGGERS as readonly unknown[]).includes(t)) throw bad(`notificationTrigger[${i}]`, `expected one of ${TRIGGERS.join(', ')}, got ${JSON.stringify(t)}`)
    return t as NotificationTrigger
  }))]
}

type Editable = Omit<SubscriptionRecord, 'id' | 'context' | 'createdAt' | 'modifiedAt'>

/**
 * Applies the members of `body` to `rec` (in place). `create`: null is refused; in an update,
 * null removes an optional member (or restores a default).
 */
function applyMembers (rec: Partial<SubscriptionRecord>, body: Json, ctx: CompiledContext, now: number, create: boolean): void {
  for (const k of Object.keys(body)) {
    if (k in NOT_IMPLEMENTED) throw new NotImplementedError(NOT_IMPLEMENTED[k] as string)
    if (k === 'temporalQ') throw bad('temporalQ', 'only context source subscriptions take a temporal query')
    if (!MEMBERS.has(k) && !READ_ONLY.has(k)) throw bad(k, 'not a member of a Subscription')
    if (create && body[k] === null) throw bad(k, 'null is only allowed in an update, to remove the member')
  }
  if (create || body.type !== undefined) {
    if (body.type !== 'Subscription') throw bad('type', `must be 'Subscription', got ${JSON.stringify(body.type)}`)
  }
  const optional = <K extends keyof Editable>(k: K, read: (v: unknown) => Editable[K]): void => {
    const v = body[k]
    if (v === undefined) return
    if (v === null) delete rec[k]
    else rec[k] = read(v)
  }
  optional('subscriptionName', v => str(v, 'subscriptionName'))
  optional('description', v => str(v, 'description'))
  optional('entities', v => {
    if (!Array.isArray(v) || v.length === 0) throw bad('entities', 'expected a non-empty array of entity selectors {id?, idPattern?, type}')
    return v.map((s, i) => entitySelector(s, `entities[${i}]`, ctx))
  })
  optional('watchedAttributes', v => nameList(v, 'watchedAttributes', ctx))
  optional('notificationTrigger', triggers)
  if (body.q === null) { delete rec.q; delete rec.qTerms } else if (body.q !== undefined) Object.assign(rec, readQ(body.q, ctx))
  optional('geoQ', v => readGeoQ(v, ctx))
  if (body.isActive === null) rec.isActive = true
  else if (body.isActive !== undefined) rec.isActive = bool(body.isActive, 'isActive')
  optional('expiresAt', v => {
    if (!isDateTime(v)) throw bad('expiresAt', `expected a DateTime (ISO 8601 with a time zone), got ${JSON.stringify(v)}`)
    if (Date.parse(v) <= now) throw bad('expiresAt', `${v} is not in the future`)
    return v
  })
  optional('throttling', v => number(v, 'throttling', 0, false))
  optional('timeInterval', v => number(v, 'timeInterval', 0, true))
  optional('lang', v => nonEmptyString(v, 'lang'))
  optional('jsonldContext', v => uri(v, 'jsonldContext'))
  if (body.notification === null) throw bad('notification', 'cannot be removed')
  if (body.notification !== undefined) rec.notification = readNotification(body.notification, ctx, rec.notification)
  else if (create) throw bad('notification', 'missing')
}

/** The rules between members (5.2.12), checked on the whole subscription after an update too. */
export function checkSubscription (rec: SubscriptionRecord): void {
  if (rec.entities === undefined && rec.watchedAttributes === undefined) {
    throw bad('entities', 'a subscription needs entities or watchedAttributes (or both)')
  }
  if (rec.throttling !== undefined && rec.timeInterval !== undefined) {
    throw bad('timeInterval', 'throttling and timeInterval exclude each other')
  }
  if (rec.timeInterval !== undefined && rec.watchedAttributes !== undefined) {
    throw bad('timeInterval', 'a periodic subscription (timeInterval) cannot have watchedAttributes')
  }
  if (rec.notification.showChanges && rec.notification.format === 'keyValues') {
    throw bad('notification.showChanges', 'cannot be true with format keyValues')
  }
}

/** A new subscription from a Create Subscription body (5.8.1). */
export function parseSubscription (body: unknown, ctx: CompiledContext, now = Date.now()): SubscriptionRecord {
  if (!isObject(body)) throw new BadRequestDataError('the body must be a Subscription object')
  const id = body.id === undefined ? `urn:ngsi-ld:Subscription:${randomUUID()}` : uri(body.id, 'id')
  const at = new Date(now).toISOString()
  const rec: Partial<SubscriptionRecord> = { id, isActive: true, context: ctx.value, createdAt: at, modifiedAt: at }
  applyMembers(rec, body, ctx, now, true)
  const out = rec as SubscriptionRecord
  checkSubscription(out)
  return out
}

/**
 * `current` updated with a Subscription fragment (5.8.2): members given replace the stored ones,
 * null removes them, `notification` and its `endpoint` merge member by member. A fragment with
 * its own @context makes that the subscription's context from now on.
 */
export function applyFragment (current: SubscriptionRecord, body: unknown, ctx: CompiledContext, now = Date.now()): SubscriptionRecord {
  if (!isObject(body)) throw new BadRequestDataError('the body must be a Subscription fragment (a JSON object)')
  if (body.id !== undefined && body.id !== current.id) throw bad('id', `the fragment is for ${String(body.id)}, not ${current.id}`)
  const known = Object.keys(body).filter(k => k !== 'id' && k !== 'type' && k !== '@context' && !READ_ONLY.has(k))
  if (known.length === 0) throw new BadRequestDataError('the fragment changes nothing')
  const rec: SubscriptionRecord = structuredClone(current)
  applyMembers(rec, body, ctx, now, false)
  if (ctx.key !== CORE_CONTEXT_URL) rec.context = ctx.value
  rec.modifiedAt = new Date(now).toISOString()
  checkSubscription(rec)
  return rec
}

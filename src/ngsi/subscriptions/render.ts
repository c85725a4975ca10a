/**
 * Output: a subscription as the API shows it (5.2.12, names compacted), and a notification
 * (5.3.1) as it is POSTed to the endpoint, in the subscription's format and media type.
 */
import { CORE_CONTEXT_URL, type CompiledContext } from '../context/index.ts'
import { compactEntity, toGeoJsonFeature } from '../entity/index.ts'
import { parseTypeSelector } from '../query/index.ts'
import type { Attribute, Entity, RenderOptions } from '../types.ts'
import { CONTEXT_REL } from './constants.ts'
import type { NotificationCounters, PendingEntity, SubscriptionRecord, SubscriptionStatus } from './interface.ts'
import { printTypeSelector } from './validate.ts'

type Json = Record<string, unknown>

export function statusOf (rec: SubscriptionRecord, now = Date.now()): SubscriptionStatus {
  if (rec.expiresAt !== undefined && Date.parse(rec.expiresAt) <= now) return 'expired'
  return rec.isActive ? 'active' : 'paused'
}

/** The URL for a Link header: a context given as one URL, else the core context. */
export function contextUrl (value: unknown): string {
  if (typeof value === 'string') return value
  if (Array.isArray(value) && value.length === 1 && typeof value[0] === 'string') return value[0]
  return CORE_CONTEXT_URL
}

export function contextLink (url: string): string {
  return `<${url}>; rel="${CONTEXT_REL}"; type="application/ld+json"`
}

/** The subscription as the API returns it, names compacted with `ctx`. */
export function subscriptionToJson (rec: SubscriptionRecord, counters: NotificationCounters, ctx: CompiledContext, opts: { sysAttrs: boolean, now?: number }): Json {
  const c = (iri: string): string => ctx.compactIri(iri)
  const out: Json = { id: rec.id, type: 'Subscription' }
  if (rec.subscriptionName !== undefined) out.subscriptionName = rec.subscriptionName
  if (rec.description !== undefined) out.description = rec.description
  if (rec.entities !== undefined) {
    out.entities = rec.entities.map(s => {
      const e: Json = {}
      if (s.id !== undefined) e.id = s.id
      if (s.idPattern !== undefined) e.idPattern = s.idPattern
      try {
        e.type = printTypeSelector(parseTypeSelector(s.type), c)
      } catch {
        e.type = s.type // a stored selector that no longer parses is shown as stored
      }
      return e
    })
  }
  if (rec.watchedAttributes !== undefined) out.watchedAttributes = rec.watchedAttributes.map(c)
  if (rec.notificationTrigger !== undefined) out.notificationTrigger = rec.notificationTrigger
  if (rec.q !== undefined) out.q = rec.q
  if (rec.geoQ !== undefined) {
    const g: Json = { geometry: rec.geoQ.geometry, coordinates: rec.geoQ.coordinates, georel: rec.geoQ.georel }
    if (rec.geoQ.geoproperty !== undefined) g.geoproperty = c(rec.geoQ.geoproperty)
    out.geoQ = g
  }
  out.isActive = rec.isActive
  if (rec.expiresAt !== undefined) out.expiresAt = rec.expiresAt
  if (rec.throttling !== undefined) out.throttling = rec.throttling
  if (rec.timeInterval !== undefined) out.timeInterval = rec.timeInterval
  if (rec.lang !== undefined) out.lang = rec.lang
  if (rec.jsonldContext !== undefined) out.jsonldContext = rec.jsonldContext
  out.status = statusOf(rec, opts.now)
  const n = rec.notification
  const notification: Json = {}
  if (n.attributes !== undefined) notification.attributes = n.attributes.map(c)
  notification.format = n.format
  notification.sysAttrs = n.sysAttrs
  notification.showChanges = n.showChanges
  const endpoint: Json = { uri: n.endpoint.uri, accept: n.endpoint.accept }
  if (n.endpoint.timeout !== undefined) endpoint.timeout = n.endpoint.timeout
  if (n.endpoint.cooldown !== undefined) endpoint.cooldown = n.endpoint.cooldown
  if (n.endpoint.receiverInfo !== undefined) endpoint.receiverInfo = n.endpoint.receiverInfo
  if (n.endpoint.notifierInfo !== undefined) endpoint.notifierInfo = n.endpoint.notifierInfo
  notification.endpoint = endpoint
  if (counters.status !== undefined) notification.status = counters.status
  notification.timesSent = counters.timesSent
  notification.timesFailed = counters.timesFailed
  if (counters.timesDropped > 0) notification.timesDropped = counters.timesDropped
  if (counters.lastNotification !== undefined) notification.lastNotification = counters.lastNotification
  if (counters.lastSuccess !== undefined) notification.lastSuccess = counters.lastSuccess
  if (counters.lastFailure !== undefined) notification.lastFailure = counters.lastFailure
  out.notification = notification
  if (opts.sysAttrs) {
    out.createdAt = rec.createdAt
    out.modifiedAt = rec.modifiedAt
  }
  return out
}

/** previous* member of each attribute kind (5.2.14 showChanges; v1.8 names). */
const PREVIOUS: Record<string, [member: keyof Attribute, name: string]> = {
  Property: ['value', 'previousValue'],
  GeoProperty: ['value', 'previousValue'],
  JsonProperty: ['value', 'previousJson'],
  Relationship: ['object', 'previousObject'],
  LanguageProperty: ['languageMap', 'previousLanguageMap'],
  VocabularyProperty: ['vocab', 'previousVocab'],
  ListProperty: ['valueList', 'previousValueList'],
  ListRelationship: ['objectList', 'previousObjectList']
}

/** Adds previousValue (…) to the rendered attributes that changed since `before`. */
function addChanges (out: Json, entity: Entity, before: Entity, ctx: CompiledContext, attrs: ReadonlySet<string> | undefined): void {
  for (const [iri, instances] of Object.entries(entity.attrs)) {
    if (attrs !== undefined && !attrs.has(iri)) continue
    const was = before.attrs[iri]
    if (was === undefined) continue
    const name = ctx.compactIri(iri)
    const rendered = out[name]
    if (rendered === undefined) continue
    const list = Array.isArray(rendered) && instances.length > 1 ? rendered : [rendered]
    instances.forEach((a, i) => {
      const b = was.find(x => x.datasetId === a.datasetId)
      const prev = PREVIOUS[a.type]
      if (b === undefined || prev === undefined || b.type !== a.type) return
      const [member, previousName] = prev
      const old = a.type === 'VocabularyProperty' && b.vocab !== undefined ? ctx.compactVocab(b.vocab) : b[member]
      if (JSON.stringify(old) === JSON.stringify(a[member])) return
      let r = list[i]
      if (r === null || typeof r !== 'object' || Array.isArray(r)) {
        // a concise bare value: spell it out so it can carry the previous value
        r = a.type === 'GeoProperty' ? { type: 'GeoProperty', value: r } : { value: r }
        if (list === rendered) (rendered as unknown[])[i] = r; else out[name] = r
      }
      (r as Json)[previousName] = old
    })
  }
}

function renderEntity (p: PendingEntity, ctx: CompiledContext, opts: RenderOptions, showChanges: boolean): Json {
  if (p.deleted) {
    // 5.2.12 entityDeleted: what is left of a deleted entity is its id, type and when it went
    const out = compactEntity({ id: p.entity.id, type: p.entity.type, attrs: {} }, ctx, { format: opts.format, sysAttrs: false })
    out.deletedAt = p.at
    return out
  }
  const out = compactEntity(p.entity, ctx, opts)
  if (showChanges && p.before !== null && opts.format !== 'keyValues') addChanges(out, p.entity, p.before, ctx, opts.attrs)
  return out
}

export interface NotificationMessage {
  body: string
  /** in order: a later entry replaces an earlier one of the same name (case-insensitive) */
  headers: Array<[name: string, value: string]>
}

export interface NotificationContent {
  id: string
  notifiedAt: string
  entries: PendingEntity[]
}

/**
 * The Notification of 5.3.1 for `accept`: application/json (context in a Link header),
 * application/ld+json (@context in the body) or application/geo+json (data as a
 * FeatureCollection with its @context, unless receiverInfo asks `Prefer: body=json`).
 * receiverInfo entries become headers.
 */
export function renderNotification (rec: SubscriptionRecord, content: NotificationContent, ctx: CompiledContext): NotificationMessage {
  const n = rec.notification
  const opts: RenderOptions = {
    format: n.format,
    sysAttrs: n.sysAttrs,
    attrs: n.attributes !== undefined ? new Set(n.attributes) : undefined,
    lang: rec.lang
  }
  const contextValue = rec.jsonldContext ?? ctx.value
  const headers: Array<[string, string]> = (n.endpoint.receiverInfo ?? []).map(kv => [kv.key, kv.value])
  const message: Json = { id: content.id, type: 'Notification', subscriptionId: rec.id, notifiedAt: content.notifiedAt }
  const accept = n.endpoint.accept
  if (accept === 'application/geo+json') {
    const features = content.entries.map(p => {
      const f = toGeoJsonFeature(p.deleted ? { id: p.entity.id, type: p.entity.type, attrs: {} } : p.entity, ctx, p.deleted ? { format: n.format, sysAttrs: false } : opts)
      if (p.deleted) f.properties.deletedAt = p.at
      return f
    })
    const fc: Json = { type: 'FeatureCollection', features }
    const prefer = (n.endpoint.receiverInfo ?? []).find(kv => kv.key.toLowerCase() === 'prefer')?.value
    if (prefer?.replace(/\s/g, '') !== 'body=json') fc['@context'] = contextValue
    message.data = fc
    headers.push(['Content-Type', 'application/geo+json'])
  } else {
    message.data = content.entries.map(p => renderEntity(p, ctx, opts, n.showChanges))
    if (accept === 'application/ld+json') {
      message['@context'] = contextValue
      headers.push(['Content-Type', 'application/ld+json'])
    } else {
      headers.push(['Content-Type', 'application/json'], ['Link', contextLink(rec.jsonldContext ?? contextUrl(ctx.value))])
    }
  }
  return { body: JSON.stringify(message), headers }
}

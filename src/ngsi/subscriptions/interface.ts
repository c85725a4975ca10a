/**
 * Types other modules see: the stored form of a subscription, its delivery counters, and the
 * manager's collaborators and settings.
 */
import type { Level } from 'level'
import type { Logger } from 'pino'
import type { ContextResolver } from '../context/index.ts'
import type { EntityStore } from '../store/index.ts'
import type { Entity, Format } from '../types.ts'
import type { ACCEPT_TYPES, TRIGGERS } from './constants.ts'

export type NotificationTrigger = typeof TRIGGERS[number]
export type NotificationAccept = typeof ACCEPT_TYPES[number]
export type SubscriptionStatus = 'active' | 'paused' | 'expired'

/** entities[i] of a subscription; `type` is a type selector (4.17) whose names are expanded IRIs. */
export interface EntitySelectorRecord {
  id?: string
  idPattern?: string
  type: string
}

/** geoQ, validated; `geoproperty` expanded (absent = location). */
export interface GeoQRecord {
  geometry: string
  coordinates: unknown
  georel: string
  geoproperty?: string
}

export interface KeyValuePair { key: string, value: string }

export interface EndpointRecord {
  /** http(s) URL */
  uri: string
  accept: NotificationAccept
  /** ms, as given (clamped when used) */
  timeout?: number
  /** ms after a failed notification during which new notifications are not sent */
  cooldown?: number
  /** sent as HTTP headers */
  receiverInfo?: KeyValuePair[]
  /** kept and shown; HTTP delivery has no use for it (MQTT settings) */
  notifierInfo?: KeyValuePair[]
}

export interface NotificationRecord {
  /** expanded attribute names; absent = all */
  attributes?: string[]
  format: Format
  sysAttrs: boolean
  showChanges: boolean
  endpoint: EndpointRecord
}

/**
 * A subscription as stored: every name expanded with the @context of the request that set it,
 * and that @context kept (`context`) to compact notifications and responses. `q` is kept as
 * written, with `qTerms`, the expansion of every term it uses, so it can be bound again after a
 * restart without resolving the @context (which may be remote and unreachable then).
 */
export interface SubscriptionRecord {
  id: string
  subscriptionName?: string
  description?: string
  entities?: EntitySelectorRecord[]
  watchedAttributes?: string[]
  notificationTrigger?: NotificationTrigger[]
  q?: string
  qTerms?: Record<string, string>
  geoQ?: GeoQRecord
  isActive: boolean
  expiresAt?: string
  /** seconds */
  throttling?: number
  /** seconds */
  timeInterval?: number
  lang?: string
  jsonldContext?: string
  /** the @context value of the request (a URL, an object or an array; the core URL when none) */
  context: unknown
  notification: NotificationRecord
  createdAt: string
  modifiedAt: string
}

/** Delivery statistics of a subscription (5.2.14), persisted apart from the definition. */
export interface NotificationCounters {
  /** HTTP requests sent (every attempt, retries included) */
  timesSent: number
  /** attempts that failed: network error, timeout or a non-2xx answer */
  timesFailed: number
  /** notifications dropped unsent because the subscription's queue was full (extension) */
  timesDropped: number
  lastNotification?: string
  lastSuccess?: string
  lastFailure?: string
  /** outcome of the last attempt */
  status?: 'ok' | 'failed'
}

/** A subscription with what the API shows besides its definition. */
export interface SubscriptionSnapshot {
  record: SubscriptionRecord
  counters: NotificationCounters
  status: SubscriptionStatus
}

/** One entity of a notification waiting to be sent. */
export interface PendingEntity {
  /** the entity after the change (before it, for a deletion) */
  entity: Entity
  /** the entity before the first change coalesced into this notification (showChanges) */
  before: Entity | null
  /** the entity was deleted: only id, type and deletedAt are sent */
  deleted: boolean
  /** when the change was made (ISO), for deletedAt */
  at: string
}

export interface SubscriptionManagerComponents {
  /** the node's LevelDB (the one the entity store uses) */
  db: Level<string, string>
  /** change events (local and replicated) and scans for periodic notifications */
  store: Pick<EntityStore, 'events' | 'scan'>
  /** resolves the stored @context of a subscription to compact its notifications */
  contexts: Pick<ContextResolver, 'resolve'>
  log: Logger
  /** the HTTP client; default globalThis.fetch */
  fetch?: typeof fetch
}

/** Delivery settings; every member is optional, defaults in constants.ts. */
export interface SubscriptionManagerInit {
  /** notification requests in flight over all subscriptions; default 16 */
  maxInFlight?: number
  /** notifications waiting per subscription before the oldest is dropped; default 1000 */
  maxQueue?: number
  /** pauses before retries (ms); its length is the number of retries; default [500, 1000, 2000] */
  retryDelaysMs?: readonly number[]
  /** request time limit when the endpoint gives none (ms); default 5000 */
  defaultTimeoutMs?: number
  /** debounce of counter writes (ms); default 1000 */
  counterFlushMs?: number
  /** most entities in one periodic notification; default 10 000 */
  maxPeriodicEntities?: number
}

/** Paging of the subscription list. */
export interface SubscriptionPage {
  offset: number
  limit: number
}

/**
 * Defaults and limits of NGSI-LD subscriptions. Each bound says why it has the value it has;
 * SubscriptionManagerInit can override the delivery ones.
 */

/** Notification triggers of NGSI-LD 5.2.12 (v1.8+), in the spec's order. */
export const TRIGGERS = ['entityCreated', 'entityUpdated', 'entityDeleted', 'attributeCreated', 'attributeUpdated', 'attributeDeleted'] as const

/** What a subscription without notificationTrigger reacts to (5.2.12: the historic behaviour). */
export const DEFAULT_TRIGGERS = ['attributeCreated', 'attributeUpdated'] as const

/** Media types a notification may be sent as (5.2.15 Endpoint.accept). */
export const ACCEPT_TYPES = ['application/json', 'application/ld+json', 'application/geo+json'] as const

/**
 * Time limit of one notification request when the endpoint gives no `timeout` (ms). A receiver
 * that cannot answer in 5 s is treated as failed rather than holding a delivery slot.
 */
export const DEFAULT_TIMEOUT_MS = 5000

/**
 * Largest `timeout` honoured (ms); larger values are clamped (the spec lets the broker override
 * it). One slow receiver must not hold one of the shared delivery slots for minutes.
 */
export const MAX_TIMEOUT_MS = 60_000

/**
 * Pause before each retry of a failed notification (ms): 0.5 s, 1 s, 2 s, so at most 4 attempts
 * over about 3.5 s plus the request timeouts. Only network errors, timeouts, 408, 429 and 5xx are
 * retried: any other answer means the receiver understood and refused, and will refuse again.
 */
export const RETRY_DELAYS_MS: readonly number[] = [500, 1000, 2000]

/**
 * Notification requests in flight over all subscriptions. Deliveries are I/O bound; 16 keeps a
 * burst of changes from opening hundreds of sockets while a slow receiver cannot starve the others
 * (a retry waits without holding a slot).
 */
export const MAX_IN_FLIGHT = 16

/**
 * Notifications waiting per subscription. Beyond it the oldest waiting notification is dropped
 * (logged, counted in `timesDropped`): a receiver that is down for long must not make the broker
 * hold every change in memory. 1000 covers a few minutes of one change per second; a subscriber
 * that needs more should use throttling, which coalesces instead of queueing.
 */
export const MAX_QUEUE_PER_SUBSCRIPTION = 1000

/**
 * How long counter updates (timesSent, lastSuccess, …) wait before they are written (ms). A storm
 * of notifications becomes one LevelDB batch per second instead of one write per notification;
 * stop() writes what is pending, so only a crash loses at most this much counting.
 */
export const COUNTER_FLUSH_MS = 1000

/**
 * Most entities in one periodic (timeInterval) notification. A subscription matching the whole
 * store would otherwise build one enormous request every interval.
 */
export const MAX_PERIODIC_ENTITIES = 10_000

/** Shortest period of a timeInterval timer (ms), whatever the subscription asks: a timer storm protection. */
export const MIN_PERIOD_MS = 100

/**
 * Request headers receiverInfo may not set: framing and hop-by-hop headers that fetch manages
 * (setting them breaks the request) and Content-Type, which follows endpoint.accept.
 */
export const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'content-type', 'content-length', 'host', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'expect'
])

/** The JSON-LD context link relation (6.3.5). */
export const CONTEXT_REL = 'http://www.w3.org/ns/json-ld#context'

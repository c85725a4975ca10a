/**
 * NGSI-LD subscriptions (ETSI GS CIM 009 clauses 5.8, 5.2.12–5.2.15, 5.3.1): create, read,
 * update and delete them, and notify their HTTP endpoints when a committed change (local or
 * replicated) matches. Subscriptions belong to the domain they were created on and are stored in
 * the node's LevelDB next to the entities (keys under `s␀`). Matching happens synchronously in
 * the store's 'change' event but only decides and queues; rendering and delivery happen later,
 * with a bounded queue per subscription, a global cap on requests in flight and retries.
 *
 * @example
 * ```ts
 * const subscriptions = new SubscriptionManager({ db, store, contexts, log })
 * await subscriptions.start()                 // after the store, before the API
 * const { record } = await subscriptions.create(body, ctx)   // ctx: the request's CompiledContext
 * subscriptions.get(record.id).counters.timesSent
 * await subscriptions.stop()                  // before the store; writes the counters
 * ```
 */
export { SubscriptionManager } from './manager.ts'
export { subscriptionToJson, renderNotification, statusOf, contextUrl, contextLink, type NotificationMessage, type NotificationContent } from './render.ts'
export { parseSubscription, applyFragment, checkSubscription, printTypeSelector } from './validate.ts'
export { compileSubscription, type CompiledSubscription } from './compile.ts'
export { changeFacts, triggerOf, SubscriptionIndex, type ChangeFacts } from './match.ts'
export {
  TRIGGERS, DEFAULT_TRIGGERS, ACCEPT_TYPES, DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS, RETRY_DELAYS_MS, MAX_IN_FLIGHT,
  MAX_QUEUE_PER_SUBSCRIPTION, COUNTER_FLUSH_MS, MAX_PERIODIC_ENTITIES
} from './constants.ts'
export type {
  SubscriptionRecord, SubscriptionSnapshot, SubscriptionStatus, NotificationCounters, NotificationRecord, EndpointRecord,
  EntitySelectorRecord, GeoQRecord, KeyValuePair, NotificationTrigger, NotificationAccept, PendingEntity,
  SubscriptionManagerComponents, SubscriptionManagerInit, SubscriptionPage
} from './interface.ts'

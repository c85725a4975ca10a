/**
 * SubscriptionManager: the subscriptions of this domain (NGSI-LD 5.8), their storage, the
 * matching of every committed change against them, throttling, periodic notifications and the
 * hand-over to the Dispatcher. Subscriptions are not replicated: a subscription lives on the
 * domain where it was created and notifies for every change that domain sees, its own writes
 * and those replicated from other domains alike (the store's 'change' event carries both).
 */
import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import { coreContext, type CompiledContext } from '../context/index.ts'
import { AlreadyExistsError, BadRequestDataError, NgsiError, ResourceNotFoundError } from '../errors.ts'
import { hlcToIso, type ChangeEventDetail, type Change } from '../store/index.ts'
import { compileSubscription, type CompiledSubscription } from './compile.ts'
import {
  COUNTER_FLUSH_MS, DEFAULT_TIMEOUT_MS, MAX_IN_FLIGHT, MAX_PERIODIC_ENTITIES, MAX_QUEUE_PER_SUBSCRIPTION, MAX_TIMEOUT_MS,
  MIN_PERIOD_MS, RETRY_DELAYS_MS
} from './constants.ts'
import { Dispatcher, type AttemptOutcome, type Job, type Outbox, type PreparedDelivery } from './delivery.ts'
import type {
  NotificationCounters, PendingEntity, SubscriptionManagerComponents, SubscriptionManagerInit, SubscriptionPage,
  SubscriptionRecord, SubscriptionSnapshot
} from './interface.ts'
import { changeFacts, SubscriptionIndex, triggerOf } from './match.ts'
import { renderNotification, statusOf } from './render.ts'
import { SubscriptionRepository } from './repository.ts'
import { applyFragment, parseSubscription } from './validate.ts'

/** A loaded subscription with its runtime state. */
interface Live extends Outbox {
  record: SubscriptionRecord
  /** a stored subscription that no longer compiles gets one that matches nothing (listed, paused) */
  compiled: CompiledSubscription
  counters: NotificationCounters
  /** entities waiting for the throttling window to end, by id (the latest state wins) */
  pending: Map<string, PendingEntity>
  throttleTimer?: NodeJS.Timeout
  /** when the last notification was made (ms): the start of the throttling window */
  lastNotifiedAt: number
  periodicTimer?: NodeJS.Timeout
  periodicRun?: Promise<void>
  /** no new notification before this (ms), after a failure with endpoint.cooldown */
  cooldownUntil: number
}

const emptyCounters = (): NotificationCounters => ({ timesSent: 0, timesFailed: 0, timesDropped: 0 })

function touchedNames (change: Change): Set<string> {
  return new Set((change.a ?? []).map(w => w[0]))
}

export class SubscriptionManager {
  private readonly components: SubscriptionManagerComponents
  private readonly log: Logger
  private readonly repo: SubscriptionRepository
  private readonly dispatcher: Dispatcher<Live>
  private readonly subs = new Map<string, Live>()
  private readonly index = new SubscriptionIndex<Live>()
  private readonly abort = new AbortController()
  private readonly defaultTimeoutMs: number
  private readonly maxPeriodic: number
  private crud: Promise<unknown> = Promise.resolve()
  private started = false

  constructor (components: SubscriptionManagerComponents, init: SubscriptionManagerInit = {}) {
    this.components = components
    this.log = components.log
    this.defaultTimeoutMs = init.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS
    this.maxPeriodic = init.maxPeriodicEntities ?? MAX_PERIODIC_ENTITIES
    this.repo = new SubscriptionRepository(components.db, components.log, init.counterFlushMs ?? COUNTER_FLUSH_MS)
    this.dispatcher = new Dispatcher<Live>({
      admit: (live, job) => this.admit(live, job),
      prepare: async (live, job) => await this.prepare(live, job),
      attempted: (live, job, outcome) => { this.attempted(live, job, outcome) },
      failed: (live, job, outcome) => { this.failed(live, job, outcome) },
      dropped: (live, job) => { this.dropped(live, job) }
    }, {
      maxInFlight: init.maxInFlight ?? MAX_IN_FLIGHT,
      maxQueue: init.maxQueue ?? MAX_QUEUE_PER_SUBSCRIPTION,
      retryDelaysMs: init.retryDelaysMs ?? RETRY_DELAYS_MS,
      fetch: components.fetch ?? globalThis.fetch,
      log: components.log
    })
  }

  /** Loads every stored subscription and starts listening to the store. */
  async start (): Promise<void> {
    const stored = await this.repo.loadAll()
    // creation order, as the API lists them
    stored.sort((a, b) => a.record.createdAt < b.record.createdAt ? -1 : a.record.createdAt > b.record.createdAt ? 1 : a.record.id < b.record.id ? -1 : 1)
    let broken = 0
    for (const s of stored) {
      let compiled: CompiledSubscription
      try {
        compiled = compileSubscription(s.record)
      } catch (err) {
        broken++
        this.log.error({ err, subscriptionId: s.record.id }, 'stored subscription does not compile; it is kept but paused')
        s.record.isActive = false
        compiled = { record: s.record, selects: () => false, types: [], watched: null, triggers: new Set(), scan: { ids: [] } }
      }
      this.addLive(s.record, compiled, { ...emptyCounters(), ...s.counters })
    }
    this.components.store.events.addEventListener('change', this.onChange)
    this.started = true
    for (const live of this.subs.values()) this.startPeriodic(live)
    this.log.info({ subscriptions: this.subs.size, broken }, 'subscriptions ready')
  }

  /** Stops matching, timers and deliveries, then writes the counters. */
  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.components.store.events.removeEventListener('change', this.onChange)
    this.abort.abort()
    for (const live of this.subs.values()) this.clearTimers(live)
    await Promise.allSettled([...this.subs.values()].map(async l => await l.periodicRun))
    await this.dispatcher.stop()
    await this.repo.stop()
  }

  /** Create Subscription (5.8.1). Names are expanded with `ctx`, which is kept for notifications. */
  async create (body: unknown, ctx: CompiledContext, options: { signal?: AbortSignal } = {}): Promise<SubscriptionSnapshot> {
    return await this.exclusive(async () => {
      const rec = parseSubscription(body, ctx)
      if (this.subs.has(rec.id)) throw new AlreadyExistsError(rec.id)
      const compiled = this.compile(rec)
      options.signal?.throwIfAborted()
      await this.repo.put(rec)
      const live = this.addLive(rec, compiled, emptyCounters())
      this.log.info({ subscriptionId: rec.id, endpoint: loggable(rec.notification.endpoint.uri) }, 'subscription created')
      return this.snapshot(live)
    })
  }

  /** Retrieve Subscription (5.8.3). */
  get (id: string): SubscriptionSnapshot {
    return this.snapshot(this.live(id))
  }

  /** Query Subscriptions (5.8.4), in creation order. */
  list (page: SubscriptionPage): { items: SubscriptionSnapshot[], total: number } {
    const all = [...this.subs.values()]
    return { items: all.slice(page.offset, page.offset + page.limit).map(l => this.snapshot(l)), total: all.length }
  }

  /** Update Subscription (5.8.2) with a fragment. */
  async update (id: string, body: unknown, ctx: CompiledContext, options: { signal?: AbortSignal } = {}): Promise<SubscriptionSnapshot> {
    return await this.exclusive(async () => {
      const live = this.live(id)
      const next = applyFragment(live.record, body, ctx)
      const compiled = this.compile(next)
      options.signal?.throwIfAborted()
      await this.repo.put(next)
      this.index.remove(live)
      live.record = next
      live.compiled = compiled
      this.index.add(live)
      if (statusOf(next) !== 'active') {
        // paused or expired: what waited for the throttling window is not sent later
        live.pending.clear()
        if (live.throttleTimer !== undefined) clearTimeout(live.throttleTimer)
        live.throttleTimer = undefined
      }
      this.startPeriodic(live)
      this.log.info({ subscriptionId: id }, 'subscription updated')
      return this.snapshot(live)
    })
  }

  /** Delete Subscription (5.8.5): nothing more is sent for it, even what was queued. */
  async delete (id: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.exclusive(async () => {
      const live = this.live(id)
      options.signal?.throwIfAborted()
      this.index.remove(live)
      this.clearTimers(live)
      live.pending.clear()
      this.dispatcher.close(live)
      this.subs.delete(id)
      await this.repo.remove(id)
      this.log.info({ subscriptionId: id }, 'subscription deleted')
    })
  }

  /**
   * The @context a subscription's names compact with: its jsonldContext for notifications, else
   * the context it was created (or last updated) with. If that cannot be loaded now, the core
   * context (names then show as full IRIs, which is still correct JSON-LD).
   */
  async contextFor (rec: SubscriptionRecord, purpose: 'notification' | 'api' = 'api', options: { signal?: AbortSignal } = {}): Promise<CompiledContext> {
    const value = purpose === 'notification' ? rec.jsonldContext ?? rec.context : rec.context
    const signals = [this.abort.signal, AbortSignal.timeout(10_000)]
    if (options.signal !== undefined) signals.push(options.signal)
    try {
      return await this.components.contexts.resolve(value, { signal: AbortSignal.any(signals) })
    } catch (err) {
      this.log.warn({ err, subscriptionId: rec.id }, 'the @context of the subscription is not available; using the core context')
      return coreContext()
    }
  }

  // -------------------------------------------------------------------------------------------
  // Matching (on the write path: synchronous and cheap)

  private readonly onChange = (evt: CustomEvent<ChangeEventDetail>): void => {
    if (this.index.size === 0) return
    try {
      this.match(evt.detail)
    } catch (err) {
      // a listener that throws would surface as an uncaught exception of the write
      this.log.error({ err, entityId: evt.detail.change.id }, 'subscription matching failed')
    }
  }

  private match (d: ChangeEventDetail): void {
    const candidates = this.index.candidates(d.before, d.after)
    if (candidates.size === 0) return
    const facts = changeFacts(d.before, d.after, d.local ? touchedNames(d.change) : undefined)
    if (facts === null) return
    const now = Date.now()
    let at: string | undefined
    for (const live of candidates) {
      try {
        if (statusOf(live.record, now) !== 'active') continue
        if (triggerOf(live.compiled, facts) === null || !live.compiled.selects(facts.entity)) continue
        at ??= hlcToIso(d.change.h)
        this.collect(live, { entity: facts.entity, before: facts.before, deleted: facts.kind === 'deleted', at }, now)
      } catch (err) {
        this.log.error({ err, subscriptionId: live.id, entityId: d.change.id }, 'subscription matching failed')
      }
    }
  }

  /** Adds the entity to the next notification; sends now, or when the throttling window ends. */
  private collect (live: Live, p: PendingEntity, now: number): void {
    const prev = live.pending.get(p.entity.id)
    // coalesced changes: the latest state, compared (showChanges) with the state before the first
    live.pending.set(p.entity.id, prev === undefined ? p : { ...p, before: prev.before })
    if (live.throttleTimer !== undefined) return
    const wait = (live.record.throttling ?? 0) * 1000 - (now - live.lastNotifiedAt)
    if (wait > 0) {
      live.throttleTimer = setTimeout(() => {
        live.throttleTimer = undefined
        this.flush(live)
      }, wait)
      live.throttleTimer.unref()
      return
    }
    this.flush(live)
  }

  private flush (live: Live): void {
    if (live.pending.size === 0 || live.closed) return
    const job: Job = { id: notificationId(), notifiedAt: new Date().toISOString(), entries: [...live.pending.values()], attempt: 0 }
    live.pending.clear()
    live.lastNotifiedAt = Date.now()
    this.dispatcher.enqueue(live, job)
  }

  // -------------------------------------------------------------------------------------------
  // Periodic notifications (timeInterval)

  private startPeriodic (live: Live): void {
    if (live.periodicTimer !== undefined) clearInterval(live.periodicTimer)
    live.periodicTimer = undefined
    const seconds = live.record.timeInterval
    if (seconds === undefined || !this.started) return
    live.periodicTimer = setInterval(() => {
      live.periodicRun ??= this.periodic(live).finally(() => { live.periodicRun = undefined })
    }, Math.max(MIN_PERIOD_MS, seconds * 1000))
    live.periodicTimer.unref()
  }

  /** One periodic notification: the entities matching now (none: nothing is sent). */
  private async periodic (live: Live): Promise<void> {
    const { compiled } = live
    if (statusOf(live.record) !== 'active' || live.closed) return
    const at = new Date().toISOString()
    const entries: PendingEntity[] = []
    try {
      scan: for await (const chunk of this.components.store.scan(compiled.scan)) {
        if (this.abort.signal.aborted || live.closed) return
        for (const e of chunk) {
          if (!compiled.selects(e)) continue
          entries.push({ entity: e, before: null, deleted: false, at })
          if (entries.length >= this.maxPeriodic) {
            this.log.warn({ subscriptionId: live.id, limit: this.maxPeriodic }, 'periodic notification truncated')
            break scan
          }
        }
      }
    } catch (err) {
      if (!this.abort.signal.aborted) this.log.error({ err, subscriptionId: live.id }, 'periodic notification failed')
      return
    }
    if (entries.length === 0 || live.closed) return
    live.lastNotifiedAt = Date.now()
    this.dispatcher.enqueue(live, { id: notificationId(), notifiedAt: at, entries, attempt: 0, periodic: true })
  }

  // -------------------------------------------------------------------------------------------
  // Delivery hooks

  private admit (live: Live, job: Job): boolean {
    if (statusOf(live.record) !== 'active') return false
    if (job.attempt === 0 && Date.now() < live.cooldownUntil) {
      this.log.debug({ subscriptionId: live.id, notificationId: job.id }, 'notification skipped: endpoint in cooldown')
      return false
    }
    return true
  }

  private async prepare (live: Live, job: Job): Promise<PreparedDelivery> {
    const rec = live.record
    const ctx = await this.contextFor(rec, 'notification')
    const timeout = rec.notification.endpoint.timeout ?? this.defaultTimeoutMs
    return { uri: rec.notification.endpoint.uri, timeoutMs: Math.min(MAX_TIMEOUT_MS, Math.max(1, Math.round(timeout))), message: renderNotification(rec, job, ctx) }
  }

  private attempted (live: Live, job: Job, outcome: AttemptOutcome): void {
    const c = live.counters
    const was = c.status
    c.timesSent++
    c.lastNotification = outcome.at
    const context = { subscriptionId: live.id, notificationId: job.id, uri: loggable(live.record.notification.endpoint.uri) }
    if (outcome.ok) {
      c.lastSuccess = outcome.at
      c.status = 'ok'
      if (was === 'failed') this.log.info(context, 'notifications succeed again')
      else this.log.debug({ ...context, entities: job.entries.length }, 'notification sent')
    } else {
      c.timesFailed++
      c.lastFailure = outcome.at
      c.status = 'failed'
      // one warning when a receiver starts failing, not one per attempt while it stays down
      if (was !== 'failed') this.log.warn({ ...context, error: outcome.error, attempt: job.attempt + 1 }, 'notification failed (further failures are logged at debug until one succeeds)')
      else this.log.debug({ ...context, error: outcome.error, attempt: job.attempt + 1 }, 'notification failed')
    }
    if (!live.closed) this.repo.markDirty(live.id, c)
  }

  private failed (live: Live, job: Job, outcome: AttemptOutcome): void {
    const cooldown = live.record.notification.endpoint.cooldown
    if (cooldown !== undefined) live.cooldownUntil = Date.now() + cooldown
    this.log.debug({ subscriptionId: live.id, notificationId: job.id, error: outcome.error, attempts: job.attempt + 1 }, 'notification given up')
  }

  private dropped (live: Live, job: Job): void {
    const c = live.counters
    c.timesDropped++
    // one line for the first drop and then every hundredth: a dead receiver must not flood the log
    if (c.timesDropped === 1 || c.timesDropped % 100 === 0) {
      this.log.warn({ subscriptionId: live.id, notificationId: job.id, dropped: c.timesDropped }, 'notification queue full: oldest notification dropped')
    }
    this.repo.markDirty(live.id, c)
  }

  // -------------------------------------------------------------------------------------------

  private compile (rec: SubscriptionRecord): CompiledSubscription {
    try {
      return compileSubscription(rec)
    } catch (err) {
      if (err instanceof NgsiError) throw err
      throw new BadRequestDataError(`the subscription cannot be compiled: ${(err as Error).message}`)
    }
  }

  private addLive (record: SubscriptionRecord, compiled: CompiledSubscription, counters: NotificationCounters): Live {
    const live: Live = {
      id: record.id,
      queue: [],
      busy: false,
      scheduled: false,
      closed: false,
      record,
      compiled,
      counters,
      pending: new Map(),
      lastNotifiedAt: 0,
      cooldownUntil: 0
    }
    this.subs.set(record.id, live)
    this.index.add(live)
    // timers run between start() and stop() only; start() starts those of the loaded ones
    if (this.started) this.startPeriodic(live)
    return live
  }

  private clearTimers (live: Live): void {
    if (live.throttleTimer !== undefined) clearTimeout(live.throttleTimer)
    if (live.periodicTimer !== undefined) clearInterval(live.periodicTimer)
    live.throttleTimer = undefined
    live.periodicTimer = undefined
  }

  private live (id: string): Live {
    const live = this.subs.get(id)
    if (live === undefined) throw new ResourceNotFoundError(`subscription ${id} not found`, { id })
    return live
  }

  private snapshot (live: Live): SubscriptionSnapshot {
    return { record: live.record, counters: { ...live.counters }, status: statusOf(live.record) }
  }

  /** CRUD operations one at a time: they are rare, and this keeps create/update/delete of one id from interleaving. */
  private async exclusive<T> (fn: () => Promise<T>): Promise<T> {
    const p = this.crud.then(fn)
    this.crud = p.catch(() => {})
    return await p
  }
}

/** An endpoint URL without user info and query, which may carry credentials (logs must not). */
function loggable (uri: string): string {
  try {
    const u = new URL(uri)
    return u.origin + u.pathname
  } catch {
    return '(invalid URL)'
  }
}

function notificationId (): string {
  return `urn:ngsi-ld:Notification:${randomUUID()}`
}

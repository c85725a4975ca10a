/**
 * Subscriptions in LevelDB (keys.ts): definitions written when they change (fsync'd: an
 * acknowledged create survives a crash), counters written debounced in one batch. All writes go
 * through one promise chain so that a counter flush can never land after the delete of its
 * subscription.
 */
import type { Level } from 'level'
import type { Logger } from 'pino'
import type { NotificationCounters, SubscriptionRecord } from './interface.ts'
import { COUNTERS_PREFIX, countersKey, DEFINITION_PREFIX, definitionKey, HIGH } from './keys.ts'

export interface StoredSubscription {
  record: SubscriptionRecord
  counters?: NotificationCounters
}

export class SubscriptionRepository {
  private readonly db: Level<string, string>
  private readonly log: Logger
  private readonly flushMs: number
  private readonly dirty = new Map<string, NotificationCounters>()
  private timer?: NodeJS.Timeout
  private chain: Promise<void> = Promise.resolve()

  constructor (db: Level<string, string>, log: Logger, flushMs: number) {
    this.db = db
    this.log = log
    this.flushMs = flushMs
  }

  async loadAll (): Promise<StoredSubscription[]> {
    const out = new Map<string, StoredSubscription>()
    for await (const [key, value] of this.db.iterator({ gte: DEFINITION_PREFIX, lt: DEFINITION_PREFIX + HIGH })) {
      const id = key.slice(DEFINITION_PREFIX.length)
      try {
        out.set(id, { record: JSON.parse(value) as SubscriptionRecord })
      } catch (err) {
        this.log.error({ err, subscriptionId: id }, 'unreadable subscription record skipped')
      }
    }
    for await (const [key, value] of this.db.iterator({ gte: COUNTERS_PREFIX, lt: COUNTERS_PREFIX + HIGH })) {
      const s = out.get(key.slice(COUNTERS_PREFIX.length))
      if (s === undefined) continue
      try { s.counters = JSON.parse(value) as NotificationCounters } catch { /* counters start again from 0 */ }
    }
    return [...out.values()]
  }

  async put (record: SubscriptionRecord): Promise<void> {
    await this.serial(async () => { await this.db.put(definitionKey(record.id), JSON.stringify(record), { sync: true }) })
  }

  async remove (id: string): Promise<void> {
    this.dirty.delete(id)
    await this.serial(async () => {
      await this.db.batch([{ type: 'del', key: definitionKey(id) }, { type: 'del', key: countersKey(id) }], { sync: true })
    })
  }

  /** Counters changed; they are written within `flushMs` (the object is read at write time). */
  markDirty (id: string, counters: NotificationCounters): void {
    this.dirty.set(id, counters)
    if (this.timer !== undefined) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.flush()
    }, this.flushMs)
    this.timer.unref()
  }

  async flush (): Promise<void> {
    await this.serial(async () => {
      if (this.dirty.size === 0) return
      const ops = [...this.dirty].map(([id, c]) => ({ type: 'put' as const, key: countersKey(id), value: JSON.stringify(c) }))
      this.dirty.clear()
      try {
        await this.db.batch(ops)
      } catch (err) {
        this.log.warn({ err, subscriptions: ops.length }, 'could not write notification counters')
      }
    })
  }

  /** Writes pending counters; the database stays open (the node closes it). */
  async stop (): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    await this.flush()
  }

  private async serial (fn: () => Promise<void>): Promise<void> {
    const p = this.chain.then(fn)
    this.chain = p.catch(() => {})
    await p
  }
}

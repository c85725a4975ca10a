import { TypedEventEmitter } from 'main-event'
import { LRUCache } from 'lru-cache'
import type { Level } from 'level'
import type { Logger } from 'pino'
import type { Attribute, Entity } from '../types.ts'
import { BatchWriter, type SealedGroup, type WriteOp } from './batch-writer.ts'
import { compactRecord, emptyRecord, mergedCopy, mergeRecords, viewOf, type AttrWrite, type Change, type EntityRecord, type Envelope, type SignedEnvelope } from './crdt.ts'
import type { DomainSigner } from '../../../identity/index.ts'
import { EntityIndex } from './entity-index.ts'
import { HybridClock, type Hlc } from './hlc.ts'
import { entityKey, ENTITY_PREFIX, floorKey, FLOOR_PREFIX, HIGH, logKey, logPrefix, metaKey, parseLogKey, watermarkKey, WATERMARK_PREFIX } from './keys.ts'
import { KeyedLocks } from './locks.ts'
import { EntityTooLargeError } from '../errors.ts'

/** What a write does to one entity, in terms of its registers. */
export interface Mutation {
  /** the write creates the entity (its domain becomes the owner) */
  create?: boolean
  deleteEntity?: boolean
  types?: string[]
  scope?: string[] | null
  /** [attribute name, instance key (datasetId or DEFAULT_INSTANCE), value or null to delete] */
  attrs?: AttrWrite[]
}

/**
 * Decides the mutation for an entity from its current state; may throw an NgsiError (nothing is
 * written then). Returning null writes nothing.
 */
export type Planner = (current: Entity | null, id: string) => Mutation | null

export interface WriteResult {
  id: string
  /** null when the planner decided there was nothing to write */
  change: Change | null
  before: Entity | null
  after: Entity | null
}

export interface BatchItemResult {
  id: string
  result?: WriteResult
  error?: unknown
}

export interface ChangeEventDetail {
  /** the change applied; for a merged snapshot (anti-entropy) a change with no register writes */
  change: Change
  before: Entity | null
  after: Entity | null
  /** true for writes made through this node's API, false for replicated ones */
  local: boolean
}

/** A local write's envelope, once on disk: what replication publishes. */
export interface EnvelopeEventDetail {
  envelope: SignedEnvelope
  /** JSON.stringify(envelope), as logged: made once, reused by replication */
  json: string
  origin: string
  from: number
  to: number
  changes: number
}

export interface StoreEvents {
  change: CustomEvent<ChangeEventDetail>
  envelope: CustomEvent<EnvelopeEventDetail>
}

export interface ScanSource {
  /** exactly these entities */
  ids?: string[]
  /** entities having at least one of these types (expanded) */
  types?: string[]
  /** entities having this attribute (expanded) */
  attr?: string
  /** entities whose id starts with this */
  idPrefix?: string
}

export interface EntityStoreInit {
  /** this domain's name: the origin of local writes */
  domain: string
  /** entities kept parsed (as clients see them) in memory (default 100 000) */
  cacheSize?: number
  /** replicated records kept parsed in memory for writes (default 10 000) */
  recordCacheSize?: number
  /** fsync each group commit (default true) */
  sync?: boolean
  /**
   * The database was restored from an older copy: this domain's own changes made after the copy
   * may be held by peers under numbers it would hand out again. Numbering jumps far ahead, and
   * those changes are recovered from peers like after an unclean shutdown.
   */
  restored?: boolean
}

export interface EntityStoreComponents {
  db: Level<string, string>
  log: Logger
  clock?: HybridClock
  /** signs the envelopes of local writes; without it envelopes carry no signature (tests, tools) */
  signer?: DomainSigner
}

/** Records read from LevelDB per trip when reading them in order (start-up, compaction, snapshots). */
const RECORD_CHUNK = 1000
const RECORD_CHUNK_BYTES = 4 * 1024 * 1024
/** How many entities a scan hands out at a time (and loads from LevelDB at a time on misses). */
const SCAN_CHUNK = 256
/** Target size of one signed envelope (JSON characters): several fit one gossip message (1 MiB). */
const ENVELOPE_SPLIT_BYTES = 256 * 1024
/**
 * Largest change a write may make (its JSON, UTF-8 bytes). Other domains get a large change by
 * anti-entropy, in a sync frame of at most 8 MiB, inside its envelope escaped into the log's JSON
 * (up to twice as long): a larger change would be written here and refused everywhere else.
 */
export const MAX_CHANGE_BYTES = 3 * 1024 * 1024
/** Largest entity (its record's JSON, UTF-8 bytes) a local write may make: a snapshot sends a record whole, in a frame of at most 8 MiB. */
export const MAX_RECORD_BYTES = 6 * 1024 * 1024
/**
 * Sequence numbers reserved on disk ahead of use. A group of local changes whose numbers are all
 * reserved is gossiped before its fsync; the group that crosses the reservation is fsynced first,
 * with the next reservation (one slower write per this many changes).
 */
const RESERVE_STEP = 10_000
const RESERVED_KEY = metaKey('reserved')
/** How far numbering jumps after a restore from an older copy (log keys hold 12 digits). */
const RESTORE_JUMP = 1_000_000_000

/**
 * The NGSI-LD entity store on LevelDB. Every write becomes one Change (a set of register writes
 * with one hybrid-clock stamp) that is merged into the entity's record and noted in the
 * per-origin change log, in one LevelDB batch (group-committed with concurrent writes), before the
 * caller hears back. Replicated changes go through the same merge. Reads come from in-memory
 * indexes and an LRU cache of entities; entities are immutable objects (a write makes a new one).
 */
export class EntityStore {
  readonly events = new TypedEventEmitter<StoreEvents>()
  readonly index = new EntityIndex()
  readonly domain: string
  private readonly db: Level<string, string>
  private readonly log: Logger
  private readonly clock: HybridClock
  private readonly signer?: DomainSigner
  private readonly writer: BatchWriter<EnvelopeEventDetail>
  /** ids that have a record in LevelDB (live or not): a create of any other id needs no read */
  private readonly recordIds = new Set<string>()
  private readonly locks = new KeyedLocks()
  private readonly views: LRUCache<string, Entity>
  private readonly records: LRUCache<string, EntityRecord>
  /** per origin: the last sequence number up to which the log has no gaps */
  private readonly watermarks = new Map<string, number>()
  /** per origin: sequence numbers received above the watermark */
  private readonly above = new Map<string, Set<number>>()
  /** per origin: envelopes up to this seq were compacted out of the log */
  private readonly logFloors = new Map<string, number>()
  /** per origin: remote batches marked received but not yet committed (visible) */
  private readonly inflight = new Map<string, number>()
  /** the next sequence number of a local change */
  private nextSeq = 1
  /** local sequence numbers up to this are reserved on disk (may be published before their fsync) */
  private reserved = 0
  /**
   * After an unclean shutdown: our own sequence numbers up to this may have reached peers without
   * reaching our disk. Until the holes below it are recovered from peers or filled (skipped),
   * anti-entropy may give us back our own envelopes. 0 when there is nothing to recover.
   */
  private recoverTo = 0
  /** own sequence ranges filled with skips (a late copy of a change in them is not applied) */
  private readonly skippedOwn: Array<[number, number]> = []
  private readonly restored: boolean

  constructor (components: EntityStoreComponents, init: EntityStoreInit) {
    this.db = components.db
    this.log = components.log
    this.clock = components.clock ?? new HybridClock()
    this.signer = components.signer
    this.domain = init.domain
    this.restored = init.restored === true
    this.writer = new BatchWriter<EnvelopeEventDetail>(this.db, {
      sync: init.sync ?? true,
      hooks: {
        seal: (changes) => this.sealGroup(changes),
        sealed: (detail) => { this.events.safeDispatchEvent('envelope', { detail }) }
      }
    })
    this.views = new LRUCache({ max: Math.max(1, init.cacheSize ?? 100_000) })
    this.records = new LRUCache({ max: Math.max(1, init.recordCacheSize ?? 10_000) })
  }

  /** Loads watermarks and rebuilds the in-memory indexes from the records. Call once before use. */
  async start (): Promise<void> {
    const started = Date.now()
    for await (const [key, value] of this.db.iterator({ gte: WATERMARK_PREFIX, lt: WATERMARK_PREFIX + HIGH })) {
      this.watermarks.set(key.slice(WATERMARK_PREFIX.length), Number(value))
    }
    for await (const [key, value] of this.db.iterator({ gte: FLOOR_PREFIX, lt: FLOOR_PREFIX + HIGH })) {
      this.logFloors.set(key.slice(FLOOR_PREFIX.length), Number(value))
    }
    for (const [origin, wm] of this.watermarks) {
      for await (const key of this.db.keys({ gt: logKey(origin, wm), lt: logPrefix(origin) + HIGH })) {
        const { seq } = parseLogKey(key)
        let set = this.above.get(origin)
        if (set == null) { set = new Set(); this.above.set(origin, set) }
        set.add(seq)
      }
    }
    this.reserved = Number(await this.db.get(RESERVED_KEY) ?? 0)
    const own = this.watermarks.get(this.domain) ?? 0
    let issued = own
    for (const n of this.above.get(this.domain) ?? []) if (n > issued) issued = n
    if (this.restored) {
      this.reserved = Math.max(this.reserved, issued) + RESTORE_JUMP
      await this.db.put(RESERVED_KEY, String(this.reserved), { sync: true })
      this.log.warn({ from: own + 1, to: this.reserved }, 'restored from a backup: this domain\'s own later changes come back from peers; numbering continues far ahead')
    }
    // Never reuse a number that may have been published: continue after the reservation.
    this.nextSeq = Math.max(issued, this.reserved) + 1
    if (this.nextSeq - 1 > own) {
      this.recoverTo = this.nextSeq - 1
      this.log.warn({ from: own + 1, to: this.recoverTo }, 'the last shutdown was not clean: recovering this domain\'s own changes that may have reached peers but not this disk (the rest are skipped)')
    }
    let records = 0
    let lastReport = Date.now()
    for await (const value of this.recordValues()) {
      const rec = JSON.parse(value) as EntityRecord
      this.recordIds.add(rec.id)
      const view = viewOf(rec)
      if (view != null) {
        this.index.apply(null, view)
        this.views.set(rec.id, view)
      }
      // Our clock must never issue a stamp below one we issued (or saw) before the restart.
      observeRecord(this.clock, rec)
      records++
      if (Date.now() - lastReport > 2000) {
        lastReport = Date.now()
        this.log.info({ records }, 'loading entities')
      }
    }
    this.log.info({ entities: this.index.total, records, ms: Date.now() - started }, 'entity store ready')
  }

  /**
   * Records a clean shutdown: nothing beyond the last local change was published, so the next
   * start continues right after it. (Nothing is buffered outside LevelDB: writes in flight
   * finish, and their callers are answered.)
   */
  async stop (): Promise<void> {
    const own = this.watermarks.get(this.domain) ?? 0
    if (this.pendingOwnGap() != null || own !== this.nextSeq - 1 || this.reserved === own) return
    await this.writer.write([{ type: 'put', key: RESERVED_KEY, value: String(own) }], undefined, { sync: true })
    this.reserved = own
  }

  /**
   * Own sequence numbers that may have been published before an unclean shutdown and are neither
   * on disk here nor recovered yet, as the range that holds them; null when there are none.
   */
  pendingOwnGap (): { from: number, to: number } | null {
    const own = this.watermarks.get(this.domain) ?? 0
    if (this.recoverTo <= own) {
      this.recoverTo = 0
      return null
    }
    return { from: own + 1, to: this.recoverTo }
  }

  /**
   * Ends the recovery after an unclean shutdown: the own sequence numbers still missing (no peer
   * gave them back) are logged and published as signed skips, so that every domain's version
   * vector moves past them. Returns how many numbers were skipped.
   */
  async fillOwnGap (): Promise<number> {
    const gap = this.pendingOwnGap()
    if (gap == null) return 0
    this.recoverTo = 0
    // The holes between the numbers held above the watermark (the range may be huge after a restore).
    const runs: Array<[number, number]> = []
    let next = gap.from
    for (const n of [...(this.above.get(this.domain) ?? [])].filter(n => n >= gap.from && n <= gap.to).sort((x, y) => x - y)) {
      if (n > next) runs.push([next, n - 1])
      next = n + 1
    }
    if (next <= gap.to) runs.push([next, gap.to])
    if (runs.length === 0) return 0
    const details: EnvelopeEventDetail[] = []
    const ops: WriteOp[] = []
    let skipped = 0
    for (const [from, to] of runs) {
      this.skippedOwn.push([from, to])
      this.markRange(this.domain, from, to)
      const detail = this.signed(JSON.stringify({ o: this.domain, p: this.signer?.peerId ?? '', f: from, t: to, c: [], k: 'skip' }), from, to, 0)
      ops.push({ type: 'put', key: logKey(this.domain, to), value: detail.json })
      details.push(detail)
      skipped += to - from + 1
    }
    ops.push({ type: 'put', key: watermarkKey(this.domain), value: String(this.watermarks.get(this.domain) ?? 0) })
    await this.writer.write(ops, undefined, { sync: true })
    for (const detail of details) this.events.safeDispatchEvent('envelope', { detail })
    this.log.warn({ skipped, ranges: runs }, 'own changes lost in an unclean shutdown and found at no peer are skipped')
    return skipped
  }

  /** The entity as clients see it, or null. The object is shared: do not modify it. */
  async get (id: string): Promise<Entity | null> {
    // The cache holds live entities only (a delete evicts), so a hit needs no index lookup.
    const hit = this.views.get(id)
    if (hit != null) return hit
    if (!this.index.has(id)) return null
    return (await this.loadViews([id])).get(id) ?? null
  }

  /** Several entities at once (one LevelDB read for those not cached); absent ids are left out. */
  async getMany (ids: Iterable<string>): Promise<Map<string, Entity>> {
    const out = new Map<string, Entity>()
    const missing: string[] = []
    for (const id of ids) {
      if (out.has(id)) continue
      const hit = this.views.get(id)
      if (hit != null) out.set(id, hit)
      else if (this.index.has(id)) missing.push(id)
    }
    if (missing.length > 0) for (const [id, v] of await this.loadViews(missing)) out.set(id, v)
    return out
  }

  /** Whether the entity is here and not deleted (the index knows, no read). */
  holds (id: string): boolean {
    return this.index.has(id)
  }

  /** The replicated record (registers with stamps), for anti-entropy and diagnostics. */
  async getRecord (id: string): Promise<EntityRecord | null> {
    const r = (await this.loadRecords([id])).get(id)
    return r == null || isBlank(r) ? null : r
  }

  /** Highest contiguous sequence number received per origin (this domain included). */
  versionVector (): Record<string, number> {
    return Object.fromEntries(this.watermarks)
  }

  /** Writes one entity: plan from its current state, merge, log, commit. */
  async mutate (id: string, planner: Planner): Promise<WriteResult> {
    const [item] = await this.mutateMany([id], planner, { atomic: true })
    if (item.error != null) throw item.error
    return item.result as WriteResult
  }

  /**
   * Writes several entities in one LevelDB batch. Each entity is planned on its own: an entity
   * whose planner throws is reported in its item and not written; the others are (unless
   * `atomic`, where any error writes nothing). The same id may appear several times; its
   * mutations apply in order.
   */
  async mutateMany (ids: string[], planner: Planner, opts: { atomic?: boolean } = {}): Promise<BatchItemResult[]> {
    const unique = [...new Set(ids)]
    const release = await this.locks.acquire(unique)
    try {
      const records = await this.loadRecords(unique)
      const working = new Map<string, { rec: EntityRecord, view: Entity | null }>()
      for (const id of unique) {
        const rec = records.get(id) as EntityRecord
        working.set(id, { rec, view: this.views.get(id) ?? viewOf(rec) })
      }
      const items: BatchItemResult[] = []
      const ops: WriteOp[] = []
      const events: ChangeEventDetail[] = []
      for (const id of ids) {
        const cur = working.get(id) as { rec: EntityRecord, view: Entity | null }
        let m: Mutation | null
        try {
          m = planner(cur.view, id)
        } catch (error) {
          items.push({ id, error })
          continue
        }
        if (m == null || isEmpty(m)) {
          items.push({ id, result: { id, change: null, before: cur.view, after: cur.view } })
          continue
        }
        const change = this.localChange(id, m)
        const { rec } = mergedCopy(cur.rec, change)
        const recJson = JSON.stringify(rec)
        const tooLarge = this.tooLarge(id, change, recJson)
        if (tooLarge != null) {
          this.rollbackSeq(1)
          items.push({ id, error: tooLarge })
          continue
        }
        const after = viewOf(rec)
        ops.push({ type: 'put', key: entityKey(id), value: recJson })
        events.push({ change, before: cur.view, after, local: true })
        items.push({ id, result: { id, change, before: cur.view, after } })
        working.set(id, { rec, view: after })
      }
      if (opts.atomic === true && items.some(i => i.error != null)) {
        this.rollbackSeq(events.length)
        return items.map(i => i.error != null ? i : { id: i.id, error: new Error('not written: another entity of the batch failed') })
      }
      if (events.length > 0) {
        for (const e of events) this.markReceived(this.domain, e.change.n)
        ops.push({ type: 'put', key: watermarkKey(this.domain), value: String(this.watermarks.get(this.domain) ?? 0) })
        await this.writer.write(ops, events.map(e => e.change))
        this.commit(working, events)
      }
      return items
    } finally {
      release()
    }
  }

  /**
   * Applies envelopes received from other domains (gossip or anti-entropy), already verified and
   * validated by the caller. Changes already seen are skipped; the rest are merged, and each
   * envelope is kept in the log under its origin as received (signature included), so that it
   * can be passed on unchanged.
   */
  async applyEnvelopes (items: Array<{ envelope: Envelope, signed: SignedEnvelope }>): Promise<{ applied: number, duplicates: number }> {
    const fresh: Change[] = []
    const logs: Array<{ o: string, f: number, t: number, signed: SignedEnvelope, marked?: boolean }> = []
    let duplicates = 0
    const seen = new Set<string>()
    for (const { envelope: env, signed } of items) {
      // Our own envelopes come back only to recover what an unclean shutdown lost (pendingOwnGap).
      if (env.t <= (this.watermarks.get(env.o) ?? 0) || (env.o === this.domain && env.f > this.recoverTo)) { duplicates += env.c.length; continue }
      let any = false
      if (env.k === 'skip') {
        // Applied only right after what we hold (constant work, whatever its range); an early
        // one is left to anti-entropy, which sends the log in order.
        if (env.f > (this.watermarks.get(env.o) ?? 0) + 1) continue
        this.markRange(env.o, env.f, env.t)
        logs.push({ o: env.o, f: env.f, t: env.t, signed, marked: true })
        continue
      }
      for (const ch of env.c) {
        const k = `${ch.o}\u0000${ch.n}`
        if (seen.has(k) || this.isReceived(ch.o, ch.n)) { duplicates++; continue }
        seen.add(k)
        fresh.push(ch)
        any = true
      }
      if (any) logs.push({ o: env.o, f: env.f, t: env.t, signed })
    }
    if (fresh.length === 0 && logs.length === 0) return { applied: 0, duplicates }
    const ids = [...new Set(fresh.map(c => c.id))]
    const release = await this.locks.acquire(ids)
    try {
      const records = await this.loadRecords(ids)
      const working = new Map<string, { rec: EntityRecord, view: Entity | null }>()
      for (const id of ids) {
        const rec = records.get(id) as EntityRecord
        working.set(id, { rec, view: this.views.get(id) ?? viewOf(rec) })
      }
      const ops: WriteOp[] = []
      const events: ChangeEventDetail[] = []
      const touched = new Set<string>()
      for (const ch of fresh) {
        if (ch.o === this.domain && this.skippedOwn.some(([f, t]) => ch.n >= f && ch.n <= t)) continue
        this.clock.observe(ch.h)
        const cur = working.get(ch.id) as { rec: EntityRecord, view: Entity | null }
        const { rec, changed } = mergedCopy(cur.rec, ch)
        if (!changed) continue
        const after = viewOf(rec)
        events.push({ change: ch, before: cur.view, after, local: false })
        working.set(ch.id, { rec, view: after })
        touched.add(ch.id)
      }
      const origins = new Set<string>()
      for (const l of logs) {
        // Only the signed pair is kept (and passed on): nothing else a sender added.
        ops.push({ type: 'put', key: logKey(l.o, l.t), value: JSON.stringify({ d: l.signed.d, s: l.signed.s }) })
        if (l.marked !== true) for (let n = l.f; n <= l.t; n++) this.markReceived(l.o, n)
        origins.add(l.o)
      }
      for (const id of touched) ops.push({ type: 'put', key: entityKey(id), value: JSON.stringify(working.get(id)?.rec) })
      for (const o of origins) {
        ops.push({ type: 'put', key: watermarkKey(o), value: String(this.watermarks.get(o) ?? 0) })
        this.inflight.set(o, (this.inflight.get(o) ?? 0) + 1)
      }
      try {
        // Not fsynced: the origin holds these changes durably; should this machine crash before
        // the OS writes them out, the watermarks fall back with them and anti-entropy fetches them again.
        await this.writer.write(ops, undefined, { sync: false })
        this.commit(new Map([...touched].map(id => [id, working.get(id) as { rec: EntityRecord, view: Entity | null }])), events)
      } finally {
        for (const o of origins) {
          const n = (this.inflight.get(o) ?? 1) - 1
          if (n <= 0) this.inflight.delete(o); else this.inflight.set(o, n)
        }
      }
      return { applied: fresh.length, duplicates }
    } finally {
      release()
    }
  }

  /**
   * Applies loose changes, each as its own unsigned envelope: for tests and tools that play the
   * part of another domain without its key.
   */
  async applyRemote (changes: Change[]): Promise<{ applied: number, duplicates: number }> {
    return await this.applyEnvelopes(changes.map(c => {
      const envelope: Envelope = { o: c.o, p: '', f: c.n, t: c.n, c: [c] }
      return { envelope, signed: { d: JSON.stringify(envelope), s: '' } }
    }))
  }

  /**
   * Marks an origin's sequence numbers as dealt with, without applying them: for an envelope the
   * federation's policy rejects, so that replication does not ask for it again and again.
   */
  async skipRange (origin: string, from: number, to: number): Promise<void> {
    for (let n = from; n <= to; n++) this.markReceived(origin, n)
    await this.writer.write([{ type: 'put', key: watermarkKey(origin), value: String(this.watermarks.get(origin) ?? 0) }], undefined, { sync: false })
  }

  /**
   * Is this origin's change n readable here? Received, and no batch of that origin is still on its
   * way to disk (a received change becomes visible when its batch commits).
   */
  isVisible (origin: string, n: number): boolean {
    return this.isReceived(origin, n) && (this.inflight.get(origin) ?? 0) === 0
  }

  /** The sequence number of this domain's latest local change (0: none yet). */
  lastLocalSeq (): number {
    return this.nextSeq - 1
  }

  /** Has every change f…t of this origin been received? (Constant work for a range below the watermark.) */
  isRangeReceived (origin: string, f: number, t: number): boolean {
    const wm = this.watermarks.get(origin) ?? 0
    if (t <= wm) return true
    const set = this.above.get(origin)
    const from = Math.max(f, wm + 1)
    if (set == null || t - from + 1 > set.size) return false
    for (let n = from; n <= t; n++) if (!set.has(n)) return false
    return true
  }

  /** Has this origin's change n been received (applied or skipped)? */
  isReceived (origin: string, n: number): boolean {
    return n <= (this.watermarks.get(origin) ?? 0) || this.above.get(origin)?.has(n) === true
  }

  /**
   * Merges whole records (the anti-entropy fallback when a peer's log no longer reaches back far
   * enough) and marks as received the sequence ranges the snapshot covers. Returns how many
   * records changed something here.
   */
  async mergeSnapshot (records: EntityRecord[], received: Array<{ origin: string, from: number, to: number }> = []): Promise<number> {
    const ids = [...new Set(records.map(r => r.id))]
    if (ids.length === 0 && received.length === 0) return 0
    const release = await this.locks.acquire(ids)
    try {
      const current = await this.loadRecords(ids)
      const ops: WriteOp[] = []
      const events: ChangeEventDetail[] = []
      const working = new Map<string, { rec: EntityRecord, view: Entity | null }>()
      for (const incoming of records) {
        const cur = working.get(incoming.id)?.rec ?? current.get(incoming.id) as EntityRecord
        const before = working.get(incoming.id)?.view ?? this.views.get(incoming.id) ?? viewOf(cur)
        const merged = mergeRecords(cur, incoming)
        if (JSON.stringify(merged) === JSON.stringify(cur)) continue
        observeRecord(this.clock, merged)
        const after = viewOf(merged)
        working.set(incoming.id, { rec: merged, view: after })
        events.push({ change: { id: incoming.id, o: '', n: 0, h: '' }, before, after, local: false })
      }
      for (const [id, w] of working) ops.push({ type: 'put', key: entityKey(id), value: JSON.stringify(w.rec) })
      const origins = new Set<string>()
      for (const r of received) {
        if (r.origin === this.domain) continue
        for (let n = r.from; n <= r.to; n++) if (!this.isReceived(r.origin, n)) this.markReceived(r.origin, n)
        origins.add(r.origin)
      }
      for (const o of origins) ops.push({ type: 'put', key: watermarkKey(o), value: String(this.watermarks.get(o) ?? 0) })
      await this.writer.write(ops, undefined, { sync: false })
      this.commit(working, events)
      return working.size
    } finally {
      release()
    }
  }

  /** The origin's envelopes up to this seq are no longer in the log (0: none compacted). */
  logFloor (origin: string): number {
    return this.logFloors.get(origin) ?? 0
  }

  /**
   * Compaction: drops log envelopes whose changes are all older than `before` (and already
   * received without gaps), and tombstones and hidden registers older than `before` from the
   * records. A peer that is further behind than the log reaches gets a snapshot instead.
   */
  async compact (before: Hlc): Promise<{ envelopes: number, records: number }> {
    let envelopes = 0
    for (const [origin, wm] of this.watermarks) {
      const dels: WriteOp[] = []
      let floor = this.logFloor(origin)
      for await (const [key, value] of this.db.iterator({ gt: logKey(origin, floor), lt: logPrefix(origin) + HIGH })) {
        const env = JSON.parse((JSON.parse(value) as SignedEnvelope).d) as Envelope
        const last = env.c[env.c.length - 1]?.h ?? ''
        if (env.t > wm || last >= before) break
        dels.push({ type: 'del', key })
        floor = env.t
      }
      if (dels.length === 0) continue
      dels.push({ type: 'put', key: floorKey(origin), value: String(floor) })
      await this.writer.write(dels)
      this.logFloors.set(origin, floor)
      envelopes += dels.length - 1
    }
    const candidates: string[] = []
    for await (const value of this.recordValues()) {
      const rec = JSON.parse(value) as EntityRecord
      if (compactRecord(rec, before) !== rec) candidates.push(rec.id)
    }
    let records = 0
    for (let i = 0; i < candidates.length; i += SCAN_CHUNK) {
      const ids = candidates.slice(i, i + SCAN_CHUNK)
      const release = await this.locks.acquire(ids)
      try {
        const current = await this.loadRecords(ids)
        const ops: WriteOp[] = []
        const touched = new Map<string, { rec: EntityRecord, view: Entity | null }>()
        for (const [id, rec] of current) {
          const next = compactRecord(rec, before)
          if (next === rec) continue
          ops.push({ type: 'put', key: entityKey(id), value: JSON.stringify(next) })
          touched.set(id, { rec: next, view: this.views.get(id) ?? viewOf(next) })
        }
        await this.writer.write(ops)
        for (const [id, w] of touched) this.records.set(id, w.rec)
        records += touched.size
      } finally {
        release()
      }
    }
    if (envelopes > 0 || records > 0) this.log.info({ envelopes, records, before }, 'compacted the change log and tombstones')
    return { envelopes, records }
  }

  /**
   * Every record's JSON, in id order. Read from LevelDB in chunks of ~RECORD_CHUNK_BYTES: the
   * default iterator fetched 16 KiB (~20 records) per trip to LevelDB's thread, and a node holding
   * 100,000 entities spent most of its start-up waiting for those trips.
   */
  private async * recordValues (range: { gte?: string, gt?: string } = { gte: ENTITY_PREFIX }, limit = -1): AsyncGenerator<string> {
    const it = this.db.values({ ...range, lt: ENTITY_PREFIX + HIGH, limit, highWaterMarkBytes: RECORD_CHUNK_BYTES } as Parameters<Level<string, string>['values']>[0])
    try {
      for (;;) {
        const values = await it.nextv(RECORD_CHUNK) as string[]
        if (values.length === 0) return
        yield * values
      }
    } finally {
      await it.close()
    }
  }

  /** Records in id order after `after` (null: from the start), for anti-entropy snapshots. */
  async snapshotPage (after: string | null, limit: number): Promise<{ records: EntityRecord[], next: string | null }> {
    const records: EntityRecord[] = []
    const from = after == null ? { gte: ENTITY_PREFIX } : { gt: entityKey(after) }
    for await (const value of this.recordValues(from, limit)) records.push(JSON.parse(value) as EntityRecord)
    return { records, next: records.length === limit ? records[records.length - 1].id : null }
  }

  /** Signed envelopes of one origin that reach beyond `afterSeq`, in order (for anti-entropy). */
  async logSince (origin: string, afterSeq: number, limit: number): Promise<SignedEnvelope[]> {
    return (await this.logSinceRaw(origin, afterSeq, limit)).map(e => JSON.parse(e.json) as SignedEnvelope)
  }

  /**
   * The same envelopes as stored: their JSON (`{"d":…,"s":…}`) and last sequence number, for
   * anti-entropy to send on without parsing and serialising them again. At most `limit`
   * envelopes, and none after the one that reaches `maxBytes` (of JSON) in all.
   */
  async logSinceRaw (origin: string, afterSeq: number, limit: number, maxBytes = Infinity): Promise<Array<{ to: number, json: string }>> {
    const out: Array<{ to: number, json: string }> = []
    let bytes = 0
    for await (const [key, json] of this.db.iterator({ gt: logKey(origin, afterSeq), lt: logPrefix(origin) + HIGH, limit })) {
      out.push({ to: parseLogKey(key).seq, json })
      bytes += json.length
      if (bytes >= maxBytes) break
    }
    return out
  }

  /**
   * Live entities from the most selective source, in id order, a chunk at a time. The caller
   * filters further (q, geo, type selector) and stops when it has enough.
   */
  async * scan (source: ScanSource = {}): AsyncGenerator<Entity[]> {
    const ids = this.idSource(source)
    let chunk: string[] = []
    for (const id of ids) {
      chunk.push(id)
      if (chunk.length >= SCAN_CHUNK) {
        yield await this.viewsInOrder(chunk)
        chunk = []
      }
    }
    if (chunk.length > 0) yield await this.viewsInOrder(chunk)
  }

  /** Number of live entities a source would yield at most (for choosing an index). */
  estimate (source: ScanSource): number {
    if (source.ids != null) return source.ids.length
    if (source.types != null) return source.types.reduce((n, t) => n + (this.index.types.get(t)?.entities ?? 0), 0)
    if (source.attr != null) return this.index.attrs.get(source.attr)?.entities ?? 0
    return this.index.total
  }

  private * idSource (source: ScanSource): Generator<string> {
    const prefix = source.idPrefix
    const within = function * (ids: Iterable<string>): Generator<string> {
      for (const id of ids) {
        if (prefix != null && !id.startsWith(prefix)) {
          if (id > prefix) return
          continue
        }
        yield id
      }
    }
    if (source.ids != null) {
      yield * within([...new Set(source.ids)].filter(id => this.index.has(id)).sort())
    } else if (source.types != null) {
      yield * within(this.index.idsOfTypes(source.types, prefix))
    } else if (source.attr != null) {
      yield * within(this.index.idsWithAttr(source.attr, prefix))
    } else {
      yield * within(this.index.allIds(prefix))
    }
  }

  private async viewsInOrder (ids: string[]): Promise<Entity[]> {
    const found: Array<Entity | undefined> = new Array(ids.length)
    let missing: string[] | undefined
    for (let i = 0; i < ids.length; i++) {
      const v = this.views.get(ids[i])
      if (v != null) found[i] = v
      else (missing ??= []).push(ids[i])
    }
    // Loading the misses may evict hits from the cache: keep what we already hold.
    const loaded = missing == null ? undefined : await this.loadViews(missing)
    const out: Entity[] = []
    for (let i = 0; i < ids.length; i++) {
      const v = found[i] ?? loaded?.get(ids[i])
      if (v != null) out.push(v)
    }
    return out
  }

  private localChange (id: string, m: Mutation): Change {
    const n = this.nextSeq++
    const ch: Change = { id, o: this.domain, n, h: this.clock.now() }
    if (m.create === true) ch.c = 1
    if (m.deleteEntity === true) ch.d = 1
    if (m.types != null) ch.t = m.types
    if (m.scope !== undefined) ch.s = m.scope
    if (m.attrs != null && m.attrs.length > 0) ch.a = m.attrs.map(([name, inst, value]) => [name, inst, value == null ? null : storable(value)])
    return ch
  }

  /**
   * Wraps the changes of one group commit into signed envelopes of at most about
   * ENVELOPE_SPLIT_BYTES each (a change larger than that gets an envelope of its own), so that a
   * large batch still travels by gossip instead of waiting for anti-entropy.
   */
  private seal (changes: Change[]): EnvelopeEventDetail[] {
    const out: EnvelopeEventDetail[] = []
    const head = `{"o":${JSON.stringify(this.domain)},"p":${JSON.stringify(this.signer?.peerId ?? '')},`
    let parts: string[] = []
    let bytes = 0
    let from = 0
    let to = 0
    const close = (): void => {
      // Same JSON as JSON.stringify({ o, p, f, t, c }), built from the changes serialised once.
      out.push(this.signed(`${head}"f":${from},"t":${to},"c":[${parts.join(',')}]}`, from, to, parts.length))
      parts = []
      bytes = 0
    }
    for (const ch of changes) {
      const json = JSON.stringify(ch)
      if (parts.length > 0 && bytes + json.length > ENVELOPE_SPLIT_BYTES) close()
      if (parts.length === 0) from = ch.n
      parts.push(json)
      bytes += json.length + 1
      to = ch.n
    }
    if (parts.length > 0) close()
    return out
  }

  /**
   * A group commit's envelopes, and whether they may be gossiped before the group's fsync: only
   * if all their sequence numbers are reserved on disk, so that a machine crash that loses the
   * group cannot make this domain hand out the same numbers again (see start()). The group that
   * crosses the reservation carries the next one and is fsynced before it is published.
   */
  private sealGroup (changes: Change[]): SealedGroup<EnvelopeEventDetail> {
    const items = this.seal(changes).map(detail => (
      { op: { type: 'put' as const, key: logKey(this.domain, detail.to), value: detail.json }, detail }
    ))
    const last = changes[changes.length - 1].n
    if (last <= this.reserved) return { items, early: true }
    const next = last + RESERVE_STEP
    return {
      items,
      early: false,
      extra: [{ type: 'put', key: RESERVED_KEY, value: String(next) }],
      forceSync: true,
      durable: () => { this.reserved = Math.max(this.reserved, next) }
    }
  }

  /** A local envelope's JSON text `d`, signed, as it is logged and published. */
  private signed (d: string, from: number, to: number, changes: number): EnvelopeEventDetail {
    const s = this.signer == null ? '' : Buffer.from(this.signer.sign(Buffer.from(d))).toString('base64')
    return { envelope: { d, s }, json: JSON.stringify({ d, s }), origin: this.domain, from, to, changes }
  }

  /**
   * Why a local change cannot be replicated, if it cannot: the entity it leaves is over
   * MAX_RECORD_BYTES, or the change itself over MAX_CHANGE_BYTES. Deletes (of the entity or of
   * attributes) always go through: they never add to an entity. A change is never much larger
   * than the record it leaves (the values it writes are in it), so only a record that may be over
   * MAX_CHANGE_BYTES is counted, and only one that is has its change serialised again.
   */
  private tooLarge (id: string, change: Change, recJson: string): EntityTooLargeError | null {
    // Up to 3 bytes a character: a shorter record needs no counting.
    if (recJson.length * 3 <= MAX_CHANGE_BYTES - 1024 || change.a?.some(w => w[2] != null) !== true) return null
    const recBytes = Buffer.byteLength(recJson)
    if (recBytes > MAX_RECORD_BYTES) return new EntityTooLargeError(id, 'entity', recBytes, MAX_RECORD_BYTES)
    if (recBytes <= MAX_CHANGE_BYTES - 1024) return null
    const changeBytes = Buffer.byteLength(JSON.stringify(change))
    return changeBytes > MAX_CHANGE_BYTES ? new EntityTooLargeError(id, 'change', changeBytes, MAX_CHANGE_BYTES) : null
  }

  private rollbackSeq (count: number): void {
    this.nextSeq -= count
  }

  /** Marks f…t received, f at most one past the watermark (a skip): the watermark jumps. */
  private markRange (origin: string, f: number, t: number): void {
    const wm = this.watermarks.get(origin) ?? 0
    if (f > wm + 1 || t <= wm) {
      for (let n = Math.max(f, wm + 1); n <= t; n++) this.markReceived(origin, n)
      return
    }
    let w = t
    const set = this.above.get(origin)
    if (set != null) {
      for (const n of set) if (n <= t) set.delete(n)
      while (set.has(w + 1)) { w++; set.delete(w) }
    }
    this.watermarks.set(origin, w)
  }

  private markReceived (origin: string, n: number): void {
    let wm = this.watermarks.get(origin) ?? 0
    if (n <= wm) return
    let set = this.above.get(origin)
    if (n === wm + 1) {
      wm = n
      while (set?.has(wm + 1) === true) { wm++; set.delete(wm) }
      this.watermarks.set(origin, wm)
    } else {
      if (set == null) { set = new Set(); this.above.set(origin, set) }
      set.add(n)
    }
  }

  /** After a batch is on disk: caches, indexes, then events (listeners see the committed state). */
  private commit (touched: Map<string, { rec: EntityRecord, view: Entity | null }>, events: ChangeEventDetail[]): void {
    for (const [id, w] of touched) {
      this.recordIds.add(id)
      this.records.set(id, w.rec)
      if (w.view != null) this.views.set(id, w.view); else this.views.delete(id)
    }
    for (const e of events) this.index.apply(e.before, e.after)
    for (const e of events) this.events.safeDispatchEvent('change', { detail: e })
  }

  private async loadRecords (ids: string[]): Promise<Map<string, EntityRecord>> {
    const out = new Map<string, EntityRecord>()
    const missing: string[] = []
    for (const id of ids) {
      const hit = this.records.get(id)
      if (hit != null) out.set(id, hit)
      else if (this.recordIds.has(id)) missing.push(id)
      else out.set(id, emptyRecord(id))
    }
    if (missing.length > 0) {
      const raws = await this.db.getMany(missing.map(entityKey))
      missing.forEach((id, i) => {
        const raw = raws[i]
        out.set(id, raw == null ? emptyRecord(id) : JSON.parse(raw) as EntityRecord)
      })
    }
    return out
  }

  /**
   * Reads entities that are not in the cache, and caches them. Under the entities' locks: a write
   * to one of them (which reads, merges and commits under the same locks) could otherwise commit
   * between this read and the caching of what it read, and leave the older version cached.
   */
  private async loadViews (ids: string[]): Promise<Map<string, Entity>> {
    const release = await this.locks.acquire(ids)
    try {
      const out = new Map<string, Entity>()
      const missing: string[] = []
      for (const id of ids) {
        // A write may have committed (and cached) it, or deleted it, while we waited.
        const hit = this.views.get(id)
        if (hit != null) out.set(id, hit)
        else if (this.index.has(id)) missing.push(id)
      }
      if (missing.length === 0) return out
      for (const [id, rec] of await this.loadRecords(missing)) {
        const v = viewOf(rec)
        if (v == null) continue
        this.views.set(id, v)
        out.set(id, v)
      }
      return out
    } finally {
      release()
    }
  }
}

function isEmpty (m: Mutation): boolean {
  return m.create !== true && m.deleteEntity !== true && m.types == null && m.scope === undefined && (m.attrs == null || m.attrs.length === 0)
}

function isBlank (r: EntityRecord): boolean {
  return r.created == null && r.types == null && r.deleted == null && Object.keys(r.attrs).length === 0
}

/** Every stamp in a record, fed to the clock so that it never issues one below them. */
function observeRecord (clock: HybridClock, rec: EntityRecord): void {
  let max = rec.created?.h ?? ''
  if (rec.deleted != null && rec.deleted.h > max) max = rec.deleted.h
  if (rec.types != null && rec.types.h > max) max = rec.types.h
  for (const instances of Object.values(rec.attrs)) for (const reg of Object.values(instances)) if (reg.h > max) max = reg.h
  if (max !== '') {
    try { clock.observe(max) } catch { /* a stamp from a clock far ahead: ignore it here, it was accepted before */ }
  }
}

/** What is stored of an attribute value: system fields are derived from the register, not kept. */
function storable (a: Attribute): Attribute {
  const { modifiedAt: _m, writer: _w, datasetId: _d, ...rest } = a
  return rest
}

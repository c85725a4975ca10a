import { TypedEventEmitter } from 'main-event'
import { LRUCache } from 'lru-cache'
import type { Level } from 'level'
import type { Logger } from 'pino'
import type { Attribute, Entity } from '../types.ts'
import { BatchWriter, type WriteOp } from './batch-writer.ts'
import { Catalog } from './catalog.ts'
import { emptyRecord, mergeChange, viewOf, type AttrWrite, type Change, type EntityRecord } from './crdt.ts'
import { HybridClock } from './hlc.ts'
import {
  attrKey, attrPrefix, entityKey, ENTITY_PREFIX, HIGH, idFromIndexKey, logKey, logPrefix, parseLogKey,
  typeKey, typePrefix, watermarkKey, WATERMARK_PREFIX
} from './keys.ts'
import { KeyedLocks } from './locks.ts'

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
  change: Change
  before: Entity | null
  after: Entity | null
  /** true for writes made through this node's API, false for replicated ones */
  local: boolean
}

export interface StoreEvents {
  change: CustomEvent<ChangeEventDetail>
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
  /** parsed entities kept in memory (default 20 000) */
  cacheSize?: number
  /** fsync each group commit (default true) */
  sync?: boolean
}

export interface EntityStoreComponents {
  db: Level<string, string>
  log: Logger
  clock?: HybridClock
}

interface Cached { rec: EntityRecord, view: Entity | null }

/** How many records a scan loads from LevelDB at a time. */
const SCAN_CHUNK = 128

/**
 * The NGSI-LD entity store on LevelDB. Every write becomes one Change (a set of register writes
 * with one hybrid-clock stamp) that is merged into the entity's record, appended to the per-origin
 * change log and indexed, all in one LevelDB batch, before the caller hears back. Replicated
 * changes go through the same merge. Reads come from an LRU cache of parsed records.
 */
export class EntityStore {
  readonly events = new TypedEventEmitter<StoreEvents>()
  readonly catalog = new Catalog()
  readonly domain: string
  private readonly db: Level<string, string>
  private readonly log: Logger
  private readonly clock: HybridClock
  private readonly writer: BatchWriter
  private readonly locks = new KeyedLocks()
  private readonly cache: LRUCache<string, Cached>
  /** per origin: the last sequence number up to which the log has no gaps */
  private readonly watermarks = new Map<string, number>()
  /** per origin: sequence numbers received above the watermark */
  private readonly above = new Map<string, Set<number>>()

  constructor (components: EntityStoreComponents, init: EntityStoreInit) {
    this.db = components.db
    this.log = components.log
    this.clock = components.clock ?? new HybridClock()
    this.domain = init.domain
    this.writer = new BatchWriter(this.db, { sync: init.sync ?? true })
    this.cache = new LRUCache({ max: init.cacheSize ?? 20_000 })
  }

  /** Loads watermarks and the catalog. Call once before use. */
  async start (): Promise<void> {
    const started = Date.now()
    for await (const [key, value] of this.db.iterator({ gte: WATERMARK_PREFIX, lt: WATERMARK_PREFIX + HIGH })) {
      this.watermarks.set(key.slice(WATERMARK_PREFIX.length), Number(value))
    }
    for (const [origin, wm] of this.watermarks) {
      for await (const key of this.db.keys({ gt: logKey(origin, wm), lt: logPrefix(origin) + HIGH })) {
        const { seq } = parseLogKey(key)
        let set = this.above.get(origin)
        if (set == null) { set = new Set(); this.above.set(origin, set) }
        set.add(seq)
      }
    }
    // Our clock must never issue a stamp below one we issued before the restart.
    const own = this.watermarks.get(this.domain) ?? 0
    if (own > 0) {
      const last = await this.db.get(logKey(this.domain, own))
      if (last != null) this.clock.observe((JSON.parse(last) as Change).h)
    }
    let n = 0
    for await (const [key, value] of this.db.iterator({ gte: ENTITY_PREFIX, lt: ENTITY_PREFIX + HIGH })) {
      const view = viewOf(JSON.parse(value) as EntityRecord)
      if (view != null) this.catalog.apply(null, view)
      n++
      if (n % 100_000 === 0) this.log.info({ records: n }, 'loading the entity catalog')
      void key
    }
    this.log.info({ entities: this.catalog.total, records: n, ms: Date.now() - started }, 'entity store ready')
  }

  async stop (): Promise<void> {
    // Writes in flight finish on their own; nothing is buffered outside LevelDB.
  }

  /** The entity as clients see it, or null. */
  async get (id: string): Promise<Entity | null> {
    return (await this.load(id)).view
  }

  /** The replicated record (registers with stamps), for anti-entropy and diagnostics. */
  async getRecord (id: string): Promise<EntityRecord | null> {
    const c = await this.load(id)
    return c.rec.created == null && c.rec.types == null && Object.keys(c.rec.attrs).length === 0 && c.rec.deleted == null ? null : c.rec
  }

  /** Highest contiguous sequence number received per origin (this domain included). */
  versionVector (): Record<string, number> {
    return Object.fromEntries(this.watermarks)
  }

  /** Writes one entity: plan from its current state, merge, log, index, commit. */
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
    const release = await this.locks.acquire(ids)
    try {
      const states = await this.loadMany([...new Set(ids)])
      const working = new Map<string, Cached>()
      for (const [id, c] of states) working.set(id, { rec: c.rec, view: c.view })
      const items: BatchItemResult[] = []
      const ops: WriteOp[] = []
      const events: ChangeEventDetail[] = []
      const touched = new Map<string, Cached>()
      for (const id of ids) {
        const cur = working.get(id) as Cached
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
        const rec = structuredClone(cur.rec)
        mergeChange(rec, change)
        const after = viewOf(rec)
        this.indexOps(ops, id, cur.view, after)
        ops.push({ type: 'put', key: entityKey(id), value: JSON.stringify(rec) })
        ops.push({ type: 'put', key: logKey(change.o, change.n), value: JSON.stringify(change) })
        events.push({ change, before: cur.view, after, local: true })
        items.push({ id, result: { id, change, before: cur.view, after } })
        const next = { rec, view: after }
        working.set(id, next)
        touched.set(id, next)
      }
      if (opts.atomic === true && items.some(i => i.error != null)) {
        this.rollbackSeq(events.length)
        return items.map(i => i.error != null ? i : { id: i.id, error: new Error('not written: another entity of the batch failed') })
      }
      if (events.length > 0) {
        ops.push({ type: 'put', key: watermarkKey(this.domain), value: String(this.watermarks.get(this.domain)) })
        await this.writer.write(ops)
        this.commitToMemory(touched, events)
      }
      return items
    } finally {
      release()
    }
  }

  /**
   * Applies changes received from other domains (gossip or anti-entropy). Duplicates and changes
   * already seen are skipped; the rest are merged, logged under their origin and indexed.
   */
  async applyRemote (changes: Change[]): Promise<{ applied: number, duplicates: number }> {
    const fresh: Change[] = []
    let duplicates = 0
    const seen = new Set<string>()
    for (const ch of changes) {
      const k = `${ch.o}\u0000${ch.n}`
      if (ch.o === this.domain || seen.has(k) || ch.n <= (this.watermarks.get(ch.o) ?? 0) || this.above.get(ch.o)?.has(ch.n) === true) {
        duplicates++
        continue
      }
      seen.add(k)
      fresh.push(ch)
    }
    if (fresh.length === 0) return { applied: 0, duplicates }
    const ids = fresh.map(c => c.id)
    const release = await this.locks.acquire(ids)
    try {
      const states = await this.loadMany([...new Set(ids)])
      const ops: WriteOp[] = []
      const events: ChangeEventDetail[] = []
      const touched = new Map<string, Cached>()
      const origins = new Set<string>()
      for (const ch of fresh) {
        this.clock.observe(ch.h)
        const cur = touched.get(ch.id) ?? states.get(ch.id) as Cached
        const rec = structuredClone(cur.rec)
        const changed = mergeChange(rec, ch)
        ops.push({ type: 'put', key: logKey(ch.o, ch.n), value: JSON.stringify(ch) })
        this.markReceived(ch.o, ch.n)
        origins.add(ch.o)
        if (!changed) continue
        const after = viewOf(rec)
        this.indexOps(ops, ch.id, cur.view, after)
        ops.push({ type: 'put', key: entityKey(ch.id), value: JSON.stringify(rec) })
        events.push({ change: ch, before: cur.view, after, local: false })
        touched.set(ch.id, { rec, view: after })
      }
      for (const o of origins) ops.push({ type: 'put', key: watermarkKey(o), value: String(this.watermarks.get(o) ?? 0) })
      await this.writer.write(ops)
      this.commitToMemory(touched, events)
      return { applied: fresh.length, duplicates }
    } finally {
      release()
    }
  }

  /** Log entries of one origin after `afterSeq`, in order (for anti-entropy). */
  async changesSince (origin: string, afterSeq: number, limit: number): Promise<Change[]> {
    const out: Change[] = []
    for await (const value of this.db.values({ gt: logKey(origin, afterSeq), lt: logPrefix(origin) + HIGH, limit })) {
      out.push(JSON.parse(value) as Change)
    }
    return out
  }

  /**
   * Live entities from the most selective source, in id order. The caller filters further (q,
   * geo, type selector) and stops when it has enough.
   */
  async * scan (source: ScanSource = {}): AsyncGenerator<Entity> {
    if (source.ids != null) {
      const ids = [...new Set(source.ids)].sort()
      for (let i = 0; i < ids.length; i += SCAN_CHUNK) {
        const chunk = await this.loadMany(ids.slice(i, i + SCAN_CHUNK))
        for (const id of ids.slice(i, i + SCAN_CHUNK)) {
          const v = chunk.get(id)?.view
          if (v != null) yield v
        }
      }
      return
    }
    yield * this.scanIds(this.idSource(source))
  }

  /** Number of live entities a source would yield at most (for choosing an index). */
  estimate (source: ScanSource): number {
    if (source.ids != null) return source.ids.length
    if (source.types != null) return source.types.reduce((n, t) => n + (this.catalog.types.get(t)?.entities ?? 0), 0)
    if (source.attr != null) return this.catalog.attrs.get(source.attr)?.entities ?? 0
    return this.catalog.total
  }

  private async * idSource (source: ScanSource): AsyncGenerator<string> {
    if (source.types != null) {
      const types = [...new Set(source.types)]
      if (types.length === 1) {
        yield * this.indexIds(typePrefix(types[0]), source.idPrefix)
        return
      }
      // Several types: merge the sorted id streams, without duplicates.
      const ids = new Set<string>()
      for (const t of types) for await (const id of this.indexIds(typePrefix(t), source.idPrefix)) ids.add(id)
      yield * [...ids].sort()
      return
    }
    if (source.attr != null) {
      yield * this.indexIds(attrPrefix(source.attr), source.idPrefix)
      return
    }
    const from = ENTITY_PREFIX + (source.idPrefix ?? '')
    for await (const key of this.db.keys({ gte: from, lt: from + HIGH })) yield key.slice(ENTITY_PREFIX.length)
  }

  private async * indexIds (prefix: string, idPrefix?: string): AsyncGenerator<string> {
    const from = prefix + (idPrefix ?? '')
    for await (const key of this.db.keys({ gte: from, lt: from + HIGH })) yield idFromIndexKey(key, prefix)
  }

  private async * scanIds (ids: AsyncIterable<string>): AsyncGenerator<Entity> {
    let batch: string[] = []
    const flush = async function * (this: EntityStore): AsyncGenerator<Entity> {
      const loaded = await this.loadMany(batch)
      for (const id of batch) {
        const v = loaded.get(id)?.view
        if (v != null) yield v
      }
      batch = []
    }
    for await (const id of ids) {
      const hit = this.cache.get(id)
      if (hit != null && batch.length === 0) {
        if (hit.view != null) yield hit.view
        continue
      }
      batch.push(id)
      if (batch.length >= SCAN_CHUNK) yield * flush.call(this)
    }
    if (batch.length > 0) yield * flush.call(this)
  }

  private localChange (id: string, m: Mutation): Change {
    const n = (this.watermarks.get(this.domain) ?? 0) + 1
    this.watermarks.set(this.domain, n)
    const ch: Change = { id, o: this.domain, n, h: this.clock.now() }
    if (m.create === true) ch.c = 1
    if (m.deleteEntity === true) ch.d = 1
    if (m.types != null) ch.t = m.types
    if (m.scope !== undefined) ch.s = m.scope
    if (m.attrs != null && m.attrs.length > 0) ch.a = m.attrs.map(([name, inst, value]) => [name, inst, value == null ? null : storable(value)])
    return ch
  }

  private rollbackSeq (count: number): void {
    if (count > 0) this.watermarks.set(this.domain, (this.watermarks.get(this.domain) ?? 0) - count)
  }

  private markReceived (origin: string, n: number): void {
    let wm = this.watermarks.get(origin) ?? 0
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

  private commitToMemory (touched: Map<string, Cached>, events: ChangeEventDetail[]): void {
    for (const [id, c] of touched) this.cache.set(id, c)
    for (const e of events) {
      this.catalog.apply(e.before, e.after)
      this.events.safeDispatchEvent('change', { detail: e })
    }
  }

  private indexOps (ops: WriteOp[], id: string, before: Entity | null, after: Entity | null): void {
    const bt = new Set(before?.type ?? [])
    const at = new Set(after?.type ?? [])
    for (const t of bt) if (!at.has(t)) ops.push({ type: 'del', key: typeKey(t, id) })
    for (const t of at) if (!bt.has(t)) ops.push({ type: 'put', key: typeKey(t, id), value: '' })
    const ba = before?.attrs ?? {}
    const aa = after?.attrs ?? {}
    for (const a in ba) if (!(a in aa)) ops.push({ type: 'del', key: attrKey(a, id) })
    for (const a in aa) if (!(a in ba)) ops.push({ type: 'put', key: attrKey(a, id), value: '' })
  }

  private async load (id: string): Promise<Cached> {
    const hit = this.cache.get(id)
    if (hit != null) return hit
    const raw = await this.db.get(entityKey(id))
    const rec = raw == null ? emptyRecord(id) : JSON.parse(raw) as EntityRecord
    const c = { rec, view: viewOf(rec) }
    if (raw != null) this.cache.set(id, c)
    return c
  }

  private async loadMany (ids: string[]): Promise<Map<string, Cached>> {
    const out = new Map<string, Cached>()
    const missing: string[] = []
    for (const id of ids) {
      const hit = this.cache.get(id)
      if (hit != null) out.set(id, hit); else missing.push(id)
    }
    if (missing.length > 0) {
      const raws = await this.db.getMany(missing.map(entityKey))
      missing.forEach((id, i) => {
        const raw = raws[i]
        const rec = raw == null ? emptyRecord(id) : JSON.parse(raw) as EntityRecord
        const c = { rec, view: viewOf(rec) }
        if (raw != null) this.cache.set(id, c)
        out.set(id, c)
      })
    }
    return out
  }
}

function isEmpty (m: Mutation): boolean {
  return m.create !== true && m.deleteEntity !== true && m.types == null && m.scope === undefined && (m.attrs == null || m.attrs.length === 0)
}

/** What is stored of an attribute value: system fields are derived from the register, not kept. */
function storable (a: Attribute): Attribute {
  const { modifiedAt: _m, writer: _w, datasetId: _d, ...rest } = a
  return rest
}

import type { Level } from 'level'
import type { Change } from './crdt.ts'

export type WriteOp = { type: 'put', key: string, value: string } | { type: 'del', key: string }

export interface BatchWriterHooks<D> {
  /**
   * Turns the local changes of one group commit into the operations that log them (signed
   * envelopes: one signature per envelope however many requests share the commit; a large group
   * is split so that each envelope fits a gossip message).
   */
  seal: (changes: Change[]) => SealedGroup<D>
  /** Called for each envelope once its group is on disk (when `early`, as soon as its write is under way). */
  sealed: (detail: D) => void
}

export interface SealedGroup<D> {
  items: Array<{ op: WriteOp, detail: D }>
  /** further operations of the group (a new sequence reservation, say) */
  extra?: WriteOp[]
  /**
   * The envelopes may be published before the group is written: the caller has made sure that a
   * crash losing them cannot make it reuse their sequence numbers. Otherwise they are handed on
   * only once the group is on disk.
   */
  early: boolean
  /** the group must be fsynced even if none of its writes asked for it */
  forceSync?: boolean
  /** called once the group is on disk (fsynced) */
  durable?: () => void
}

/**
 * Group commit: writes that arrive while a LevelDB batch is being written go together into the
 * next one, so many concurrent API requests share one synced write (and one envelope signature).
 * Each caller's promise resolves once its operations are on disk.
 */
export class BatchWriter<D = unknown> {
  private queue: Array<{ ops: WriteOp[], changes?: Change[], sync: boolean, resolve: () => void, reject: (err: unknown) => void }> = []
  private running = false
  private readonly db: Level<string, string>
  private readonly sync: boolean
  private readonly hooks?: BatchWriterHooks<D>

  constructor (db: Level<string, string>, opts: { sync: boolean, hooks?: BatchWriterHooks<D> }) {
    this.db = db
    this.sync = opts.sync
    this.hooks = opts.hooks
  }

  /**
   * Writes `ops`; `localChanges` (in sequence order) are logged in the group's envelope.
   * `sync: false` (for changes that other domains hold durably) skips the fsync unless another
   * write of the same group needs it; LevelDB still writes the batch atomically, and a crash of
   * the machine loses at most a suffix of such writes.
   */
  async write (ops: WriteOp[], localChanges?: Change[], opts: { sync?: boolean } = {}): Promise<void> {
    if (ops.length === 0 && (localChanges == null || localChanges.length === 0)) return
    await new Promise<void>((resolve, reject) => {
      this.queue.push({ ops, changes: localChanges, sync: opts.sync ?? this.sync, resolve, reject })
      if (!this.running) void this.drain()
    })
  }

  private async drain (): Promise<void> {
    this.running = true
    try {
      while (this.queue.length > 0) {
        // Local writes: let requests that have already arrived reach the queue first (one turn of
        // the event loop, microseconds when idle): with a fast disk, groups otherwise hold one or
        // two writes, and each group costs a signature and a LevelDB call. Changes from other
        // domains arrive in batches already and go straight on (a turn of a busy loop is long).
        if (this.queue.some(g => g.changes != null && g.changes.length > 0)) await new Promise(resolve => setImmediate(resolve))
        const group = this.queue
        this.queue = []
        const ops = group.length === 1 ? [...group[0].ops] : lastPerKey(group.flatMap(g => g.ops))
        const changes = group.flatMap(g => g.changes ?? [])
        let sealed: SealedGroup<D> = { items: [], early: false }
        if (changes.length > 0 && this.hooks != null) {
          sealed = this.hooks.seal(changes)
          for (const s of sealed.items) ops.push(s.op)
          if (sealed.extra != null) ops.push(...sealed.extra)
        }
        const sync = group.some(g => g.sync) || sealed.forceSync === true
        try {
          if (sealed.early && sealed.items.length > 0) {
            // Publish while LevelDB writes and fsyncs the group: a replica applies the change one
            // disk write sooner, and the writer's answer still waits for the fsync. Should this
            // node die before the group reaches its disk, its numbers are reserved (never handed
            // out again) and peers give the changes back (EntityStore: pendingOwnGap).
            // (The write is handed to LevelDB first: the publishing work overlaps with it.)
            const writing = writeBatch(this.db, ops, sync)
            for (const s of sealed.items) this.hooks?.sealed(s.detail)
            await writing
            if (sync) sealed.durable?.()
            for (const g of group) g.resolve()
          } else {
            await writeBatch(this.db, ops, sync)
            if (sync) sealed.durable?.()
            for (const g of group) g.resolve()
            for (const s of sealed.items) this.hooks?.sealed(s.detail)
          }
        } catch (err) {
          for (const g of group) g.reject(err)
        }
      }
    } finally {
      this.running = false
    }
  }
}

/**
 * The operations of a group with only the last one per key: the batch applies them in order,
 * so earlier ones to the same key (each request's watermark, say) would be overwritten anyway.
 */
function lastPerKey (ops: WriteOp[]): WriteOp[] {
  const last = new Map<string, number>()
  ops.forEach((op, i) => last.set(op.key, i))
  if (last.size === ops.length) return ops
  return ops.filter((op, i) => last.get(op.key) === i)
}

/** The part of abstract-level's implementation contract that `writeBatch` hands operations to. */
interface PrivateBatch {
  status: string
  hooks?: { prewrite?: { noop?: boolean } }
  listenerCount?: (event: string) => number
  keyEncoding: () => { format: string, name?: string }
  valueEncoding: () => { format: string, name?: string }
  _batch?: (ops: unknown[], options: { sync: boolean }) => Promise<void>
}

/**
 * Writes `ops` in one atomic LevelDB batch. abstract-level's public `batch()` clones every
 * operation and resolves and checks its encodings again, which here costs more than LevelDB's own
 * write (~7 µs against ~4 µs per operation: a third of the write path of a batch upsert). Our keys
 * and values are strings already, in the database's utf8 encodings, so when nothing else could
 * see the operations (an open database, no prewrite hook, no `write` listeners) they go to the
 * implementation's `_batch` in the form `batch()` would have given it; otherwise through `batch()`.
 */
export async function writeBatch (db: Level<string, string>, ops: WriteOp[], sync: boolean): Promise<void> {
  const raw = db as unknown as PrivateBatch
  const direct = typeof raw._batch === 'function' && raw.status === 'open' &&
    raw.hooks?.prewrite?.noop === true && (raw.listenerCount?.('write') ?? 1) === 0 &&
    raw.keyEncoding().name === 'utf8' && raw.valueEncoding().name === 'utf8'
  if (!direct) {
    await db.batch(ops, { sync })
    return
  }
  const encoded = new Array<unknown>(ops.length)
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]
    if (typeof op.key !== 'string' || op.key === '') throw new TypeError(`batch operation ${i}: the key must be a non-empty string`)
    if (op.type === 'put') {
      if (typeof op.value !== 'string') throw new TypeError(`batch operation ${i}: the value must be a string`)
      encoded[i] = { type: 'put', key: op.key, value: op.value, keyEncoding: 'utf8', valueEncoding: 'utf8' }
    } else {
      encoded[i] = { type: 'del', key: op.key, keyEncoding: 'utf8' }
    }
  }
  await (raw._batch as NonNullable<PrivateBatch['_batch']>).call(db, encoded, { sync })
}

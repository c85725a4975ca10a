import type { Level } from 'level'

export type WriteOp = { type: 'put', key: string, value: string } | { type: 'del', key: string }

/**
 * Group commit: writes that arrive while a LevelDB batch is being written go together into the
 * next one, so many concurrent API requests share one synced write. Each caller's promise
 * resolves once its operations are on disk.
 */
export class BatchWriter {
  private queue: Array<{ ops: WriteOp[], resolve: () => void, reject: (err: unknown) => void }> = []
  private running = false
  private readonly db: Level<string, string>
  private readonly sync: boolean

  constructor (db: Level<string, string>, opts: { sync: boolean }) {
    this.db = db
    this.sync = opts.sync
  }

  async write (ops: WriteOp[]): Promise<void> {
    if (ops.length === 0) return
    await new Promise<void>((resolve, reject) => {
      this.queue.push({ ops, resolve, reject })
      if (!this.running) void this.drain()
    })
  }

  private async drain (): Promise<void> {
    this.running = true
    try {
      while (this.queue.length > 0) {
        const group = this.queue
        this.queue = []
        const ops = group.length === 1 ? group[0].ops : group.flatMap(g => g.ops)
        try {
          await this.db.batch(ops, { sync: this.sync })
          for (const g of group) g.resolve()
        } catch (err) {
          for (const g of group) g.reject(err)
        }
      }
    } finally {
      this.running = false
    }
  }
}

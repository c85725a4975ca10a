/**
 * Per-key mutual exclusion: read-modify-write of one entity must not interleave with another
 * write to the same entity (the API awaits LevelDB between the read and the write). Several keys
 * are taken in sorted order so that two batches never wait on each other.
 */
export class KeyedLocks {
  private readonly tails = new Map<string, Promise<void>>()

  async acquire (keys: Iterable<string>): Promise<() => void> {
    const sorted = [...new Set(keys)].sort()
    const releases: Array<() => void> = []
    for (const key of sorted) releases.push(await this.one(key))
    return () => { for (const r of releases) r() }
  }

  private async one (key: string): Promise<() => void> {
    const prev = this.tails.get(key)
    let release!: () => void
    const mine = new Promise<void>(resolve => { release = resolve })
    const tail = prev == null ? mine : prev.then(async () => await mine)
    this.tails.set(key, tail)
    if (prev != null) await prev
    return () => {
      release()
      if (this.tails.get(key) === tail) this.tails.delete(key)
    }
  }
}

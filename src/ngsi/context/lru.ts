/**
 * A tiny LRU on top of Map's insertion order: a hit moves the entry to the end, an insert past
 * the bound drops the first (least recently used) entry.
 */
export class Lru<K, V> {
  private readonly map = new Map<K, V>()

  constructor (readonly max: number) {
    if (!(max >= 1)) throw new RangeError(`LRU size must be at least 1, got ${max}`)
  }

  get size (): number { return this.map.size }

  get (key: K): V | undefined {
    const v = this.map.get(key)
    if (v !== undefined) {
      this.map.delete(key)
      this.map.set(key, v)
    }
    return v
  }

  set (key: K, value: V): void {
    this.map.delete(key)
    this.map.set(key, value)
    if (this.map.size > this.max) {
      const oldest = this.map.keys().next()
      if (oldest.done !== true) this.map.delete(oldest.value)
    }
  }

  delete (key: K): boolean { return this.map.delete(key) }

  clear (): void { this.map.clear() }
}

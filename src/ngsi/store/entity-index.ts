import sortedBtree from 'sorted-btree'
import type SortedBTree from 'sorted-btree'
import type { AttributeKind, Entity } from '../types.ts'

export interface AttributeStats {
  /** entities that have the attribute */
  entities: number
  /** attribute kind → number of entities with an instance of that kind */
  kinds: Map<AttributeKind, number>
  /** entity type → number of entities of that type with the attribute */
  types: Map<string, number>
}

export interface TypeStats {
  entities: number
  /** attribute → number of entities of this type with it */
  attrs: Map<string, number>
}

// sorted-btree is CommonJS with `exports.default`: under Node's ESM loader the class is `.default`,
// when this module is loaded as CommonJS (a test runner's require hook) it is the import itself.
const BTree = (sortedBtree as unknown as { default?: typeof sortedBtree.default }).default ?? (sortedBtree as unknown as typeof sortedBtree.default)
type IdSet = SortedBTree.default<string, undefined>

function bump<K> (m: Map<K, number>, k: K, by: number): void {
  const n = (m.get(k) ?? 0) + by
  if (n <= 0) m.delete(k); else m.set(k, n)
}

/**
 * In-memory indexes of the live entities: sorted id sets (B+ trees) per type and per attribute and
 * of all ids, and counts for discovery (/types, /attributes) and for choosing the most selective
 * index. Rebuilt from the records at start; updated with every change (before → after view).
 * Keeping them out of LevelDB makes a write two puts (record + log) instead of one per attribute.
 */
export class EntityIndex {
  readonly types = new Map<string, TypeStats>()
  readonly attrs = new Map<string, AttributeStats>()
  private readonly byType = new Map<string, IdSet>()
  private readonly byAttr = new Map<string, IdSet>()
  private readonly all: IdSet = new BTree()

  get total (): number {
    return this.all.size
  }

  apply (before: Entity | null, after: Entity | null): void {
    // Most updates keep the entity's types and attributes (and their kinds): nothing indexed changes.
    if (before != null && after != null && sameShape(before, after)) return
    if (before != null) this.count(before, -1)
    if (after != null) this.count(after, 1)
    const id = (after ?? before)?.id
    if (id == null) return
    if (after == null) this.all.delete(id); else this.all.set(id, undefined)
    const bt = before?.type ?? []
    const at = after?.type ?? []
    for (const t of bt) if (!at.includes(t)) this.remove(this.byType, t, id)
    for (const t of at) if (!bt.includes(t)) this.add(this.byType, t, id)
    const ba = before?.attrs ?? {}
    const aa = after?.attrs ?? {}
    for (const a in ba) if (!(a in aa)) this.remove(this.byAttr, a, id)
    for (const a in aa) if (!(a in ba)) this.add(this.byAttr, a, id)
  }

  /** Ids of entities of any of these types, in id order. */
  * idsOfTypes (types: string[], from?: string): Generator<string> {
    const sets = [...new Set(types)].map(t => this.byType.get(t)).filter((s): s is IdSet => s != null)
    yield * mergeSorted(sets.map(s => s.keys(from)))
  }

  * idsWithAttr (attr: string, from?: string): Generator<string> {
    const s = this.byAttr.get(attr)
    if (s != null) yield * s.keys(from)
  }

  * allIds (from?: string): Generator<string> {
    yield * this.all.keys(from)
  }

  has (id: string): boolean {
    return this.all.has(id)
  }

  /** Is the (live) entity `id` of one of these types? */
  hasAnyType (id: string, types: Iterable<string>): boolean {
    for (const t of types) if (this.byType.get(t)?.has(id) === true) return true
    return false
  }

  private add (m: Map<string, IdSet>, k: string, id: string): void {
    let s = m.get(k)
    if (s == null) { s = new BTree(); m.set(k, s) }
    s.set(id, undefined)
  }

  private remove (m: Map<string, IdSet>, k: string, id: string): void {
    const s = m.get(k)
    if (s == null) return
    s.delete(id)
    if (s.size === 0) m.delete(k)
  }

  private count (e: Entity, by: number): void {
    for (const t of e.type) {
      let ts = this.types.get(t)
      if (ts == null) { ts = { entities: 0, attrs: new Map() }; this.types.set(t, ts) }
      ts.entities += by
      for (const a in e.attrs) bump(ts.attrs, a, by)
      if (ts.entities <= 0) this.types.delete(t)
    }
    for (const name in e.attrs) {
      const instances = e.attrs[name]
      let as = this.attrs.get(name)
      if (as == null) { as = { entities: 0, kinds: new Map(), types: new Map() }; this.attrs.set(name, as) }
      as.entities += by
      if (instances.length === 1) bump(as.kinds, instances[0].type, by)
      else for (const kind of new Set(instances.map(i => i.type))) bump(as.kinds, kind, by)
      for (const t of e.type) bump(as.types, t, by)
      if (as.entities <= 0) this.attrs.delete(name)
    }
  }
}

/** Same types (in order) and the same attributes with instances of the same kinds. */
function sameShape (b: Entity, a: Entity): boolean {
  if (b.type !== a.type) {
    if (b.type.length !== a.type.length) return false
    for (let i = 0; i < a.type.length; i++) if (b.type[i] !== a.type[i]) return false
  }
  for (const name in a.attrs) {
    const x = b.attrs[name]
    const y = a.attrs[name]
    if (x == null || x.length !== y.length) return false
    for (let i = 0; i < y.length; i++) if (x[i].type !== y[i].type) return false
  }
  for (const name in b.attrs) if (!(name in a.attrs)) return false
  return true
}

/** Merges sorted iterators into one sorted iterator without duplicates. */
function * mergeSorted (its: Array<Iterator<string>>): Generator<string> {
  if (its.length === 1) {
    for (let r = its[0].next(); r.done !== true; r = its[0].next()) yield r.value
    return
  }
  const heads = its.map(it => it.next())
  let last: string | undefined
  for (;;) {
    let min = -1
    for (let i = 0; i < heads.length; i++) {
      if (heads[i].done === true) continue
      if (min < 0 || heads[i].value < heads[min].value) min = i
    }
    if (min < 0) return
    const v = heads[min].value as string
    if (v !== last) { yield v; last = v }
    heads[min] = its[min].next()
  }
}

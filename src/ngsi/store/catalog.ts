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

function bump<K> (m: Map<K, number>, k: K, by: number): void {
  const n = (m.get(k) ?? 0) + by
  if (n <= 0) m.delete(k); else m.set(k, n)
}

/**
 * Counts of live entities by type and by attribute, kept in memory and updated with every change,
 * so that /types and /attributes (and the choice of index for a query) cost no scan.
 */
export class Catalog {
  readonly types = new Map<string, TypeStats>()
  readonly attrs = new Map<string, AttributeStats>()
  total = 0

  apply (before: Entity | null, after: Entity | null): void {
    if (before != null) this.count(before, -1)
    if (after != null) this.count(after, 1)
  }

  private count (e: Entity, by: number): void {
    this.total += by
    for (const t of e.type) {
      let ts = this.types.get(t)
      if (ts == null) { ts = { entities: 0, attrs: new Map() }; this.types.set(t, ts) }
      ts.entities += by
      for (const a of Object.keys(e.attrs)) bump(ts.attrs, a, by)
      if (ts.entities <= 0) this.types.delete(t)
    }
    for (const [name, instances] of Object.entries(e.attrs)) {
      let as = this.attrs.get(name)
      if (as == null) { as = { entities: 0, kinds: new Map(), types: new Map() }; this.attrs.set(name, as) }
      as.entities += by
      for (const kind of new Set(instances.map(i => i.type))) bump(as.kinds, kind, by)
      for (const t of e.type) bump(as.types, t, by)
      if (as.entities <= 0) this.attrs.delete(name)
    }
  }
}

/**
 * Deciding, for one committed change, which subscriptions it triggers. This runs inside the
 * store's change event, i.e. on the write path, so it must stay cheap: an index by entity type
 * (and by attribute for subscriptions without entity selectors) picks the few candidates, the
 * attribute diff is computed once per change and only if there is a candidate, and everything
 * after the decision (rendering, HTTP) happens later, off the write path.
 */
import type { Attribute, Entity } from '../types.ts'
import type { CompiledSubscription } from './compile.ts'
import type { NotificationTrigger } from './interface.ts'

/** What a change did to an entity, in the terms of notification triggers. */
export interface ChangeFacts {
  kind: 'created' | 'updated' | 'deleted'
  /** the entity the filters see: after the change, or before it for a deletion */
  entity: Entity
  before: Entity | null
  after: Entity | null
  /** expanded attribute names (for 'created' every attribute; for 'deleted' every attribute before) */
  attrsCreated: ReadonlySet<string>
  attrsUpdated: ReadonlySet<string>
  attrsDeleted: ReadonlySet<string>
}

function sameInstance (a: Attribute, b: Attribute): boolean {
  // Every register write gets a new stamp, shown as modifiedAt/writer: comparing those is exact
  // except for two writes by one domain within one millisecond, which `touched` covers for local ones.
  return a.modifiedAt === b.modifiedAt && a.writer === b.writer
}

/**
 * Classifies the change from the entity before and after it. `touched`: attribute names the
 * change wrote (local writes: each is an update even if the value did not change).
 */
export function changeFacts (before: Entity | null, after: Entity | null, touched?: ReadonlySet<string>): ChangeFacts | null {
  if (before === null && after === null) return null
  if (before === null) {
    const all = new Set(Object.keys((after as Entity).attrs))
    return { kind: 'created', entity: after as Entity, before, after, attrsCreated: all, attrsUpdated: new Set(), attrsDeleted: new Set() }
  }
  if (after === null) {
    const all = new Set(Object.keys(before.attrs))
    return { kind: 'deleted', entity: before, before, after, attrsCreated: new Set(), attrsUpdated: new Set(), attrsDeleted: all }
  }
  const created = new Set<string>()
  const updated = new Set<string>()
  const deleted = new Set<string>()
  for (const name of Object.keys(after.attrs)) {
    const now = after.attrs[name] as Attribute[]
    const was = before.attrs[name]
    if (was === undefined) { created.add(name); continue }
    // instances by datasetId ('' = the default instance)
    const old = new Map(was.map(a => [a.datasetId ?? '', a]))
    for (const a of now) {
      const b = old.get(a.datasetId ?? '')
      if (b === undefined) created.add(name)
      else if (!sameInstance(a, b) || touched?.has(name) === true) updated.add(name)
      old.delete(a.datasetId ?? '')
    }
    if (old.size > 0) deleted.add(name)
  }
  for (const name of Object.keys(before.attrs)) if (!(name in after.attrs)) deleted.add(name)
  return { kind: 'updated', entity: after, before, after, attrsCreated: created, attrsUpdated: updated, attrsDeleted: deleted }
}

function hits (names: ReadonlySet<string>, watched: ReadonlySet<string> | null): boolean {
  if (names.size === 0) return false
  if (watched === null) return true
  for (const n of names) if (watched.has(n)) return true
  return false
}

function hasWatched (entity: Entity, watched: ReadonlySet<string> | null): boolean {
  if (watched === null) return true
  for (const n of watched) if (n in entity.attrs) return true
  return false
}

/**
 * The trigger this change fires for the subscription, or null. Entity creation counts as
 * attributeCreated for each of its attributes; deletion fires entityDeleted only. With
 * watchedAttributes, entityCreated/entityDeleted need the entity to have a watched attribute.
 * The entity filters (selectors, q, geoQ) are checked separately (`sub.selects`).
 */
export function triggerOf (sub: CompiledSubscription, facts: ChangeFacts): NotificationTrigger | null {
  const { triggers, watched } = sub
  switch (facts.kind) {
    case 'created':
      if (triggers.has('entityCreated') && hasWatched(facts.entity, watched)) return 'entityCreated'
      if (triggers.has('attributeCreated') && hits(facts.attrsCreated, watched)) return 'attributeCreated'
      return null
    case 'deleted':
      return triggers.has('entityDeleted') && hasWatched(facts.entity, watched) ? 'entityDeleted' : null
    case 'updated':
      if (triggers.has('attributeCreated') && hits(facts.attrsCreated, watched)) return 'attributeCreated'
      if (triggers.has('attributeUpdated') && hits(facts.attrsUpdated, watched)) return 'attributeUpdated'
      if (triggers.has('attributeDeleted') && hits(facts.attrsDeleted, watched)) return 'attributeDeleted'
      return null
  }
}

/**
 * Change-driven subscriptions by the entity types they can match; those without entity
 * selectors by their watched attributes. Periodic subscriptions are not indexed.
 */
export class SubscriptionIndex<T extends { compiled: CompiledSubscription }> {
  private readonly byType = new Map<string, Set<T>>()
  private readonly byAttr = new Map<string, Set<T>>()
  private readonly members = new Set<T>()

  /** indexed subscriptions: 0 lets a change skip matching altogether */
  get size (): number {
    return this.members.size
  }

  add (item: T): void {
    const keys = this.keysOf(item)
    if (keys === null || keys.values.length === 0) return
    for (const k of keys.values) {
      let set = keys.map.get(k)
      if (set === undefined) { set = new Set(); keys.map.set(k, set) }
      set.add(item)
    }
    this.members.add(item)
  }

  /** Call with the item as it was added (before changing its compiled form). */
  remove (item: T): void {
    if (!this.members.delete(item)) return
    const keys = this.keysOf(item)
    if (keys === null) return
    for (const k of keys.values) {
      const set = keys.map.get(k)
      set?.delete(item)
      if (set?.size === 0) keys.map.delete(k)
    }
  }

  /** Subscriptions that may care about an entity going from `before` to `after`. */
  candidates (before: Entity | null, after: Entity | null): Set<T> {
    const out = new Set<T>()
    for (const e of [before, after]) {
      if (e === null) continue
      for (const t of e.type) for (const item of this.byType.get(t) ?? []) out.add(item)
      if (this.byAttr.size > 0) for (const a of Object.keys(e.attrs)) for (const item of this.byAttr.get(a) ?? []) out.add(item)
    }
    return out
  }

  private keysOf (item: T): { map: Map<string, Set<T>>, values: readonly string[] } | null {
    const c = item.compiled
    if (c.record.timeInterval !== undefined) return null
    if (c.types !== null) return { map: this.byType, values: c.types }
    return { map: this.byAttr, values: [...(c.watched ?? [])] }
  }
}

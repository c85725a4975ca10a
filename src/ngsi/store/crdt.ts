/**
 * The replicated state of one entity: a set of last-writer-wins registers, each stamped with a
 * hybrid logical clock and the writing domain (the tie-break). Merging takes, register by
 * register, the write with the greater (stamp, domain): commutative, associative and idempotent,
 * so replicas that saw the same writes in any order and any number of times hold the same state.
 *
 * An entity delete is itself a register: it hides every register written before it (stamp
 * smaller), and leaves those written after it visible. So "delete A" concurrent with "update A.x"
 * at a later stamp leaves A with x: per-register last-writer-wins, applied consistently.
 */
import type { Attribute, Entity } from '../types.ts'
import { hlcToIso, type Hlc } from './hlc.ts'

/** Stamp of a write: clock and writing domain. */
export interface Stamp { h: Hlc, o: string }

export interface Register<T> extends Stamp { v: T }

/** Key of an attribute instance within an attribute: the datasetId, or this for the default instance. */
export const DEFAULT_INSTANCE = '@none'

export interface EntityRecord {
  id: string
  /** the creating write (its domain is the entity's owner) */
  created?: Stamp
  /** the last entity delete */
  deleted?: Stamp
  types?: Register<string[]>
  scope?: Register<string[] | null>
  /** attribute name → instance key → value (null = attribute tombstone) */
  attrs: Record<string, Record<string, Register<Attribute | null>>>
  /**
   * Set by compaction: tombstones older than this were removed, so a write older than this to a
   * register that is absent here is stale (it lost to a tombstone we no longer hold) and ignored.
   */
  floor?: Hlc
}

/** One attribute register write in a change. */
export type AttrWrite = [name: string, instance: string, value: Attribute | null]

/**
 * A change: everything one write did to one entity, with one stamp. It is the unit of the
 * per-origin change log, of gossip and of anti-entropy.
 */
export interface Change {
  /** entity id */
  id: string
  /** origin domain */
  o: string
  /** per-origin sequence number (1, 2, 3, …) */
  n: number
  h: Hlc
  /** creates the entity */
  c?: 1
  /** deletes the entity */
  d?: 1
  t?: string[]
  s?: string[] | null
  a?: AttrWrite[]
}

/**
 * A batch of one origin's consecutive changes (sequence numbers f..t), signed by the origin's
 * domain key: the unit of the change log, of gossip and of anti-entropy. A peer that forwards it
 * cannot alter it, so every domain can check who wrote what, however it arrived.
 */
export interface Envelope {
  /** origin domain */
  o: string
  /** peer id of the origin (its key signs the envelope) */
  p: string
  /** first and last sequence number */
  f: number
  t: number
  c: Change[]
  /**
   * 'skip': the origin's numbers f…t carry no change (lost in an unclean shutdown of the origin
   * before they reached its disk, and found at no peer); `c` is empty
   */
  k?: 'skip'
}

/** An envelope as stored and sent: its exact JSON text and the signature over it (base64). */
export interface SignedEnvelope {
  d: string
  s: string
}

export function compareStamps (a: Stamp | undefined, b: Stamp | undefined): number {
  if (a == null) return b == null ? 0 : -1
  if (b == null) return 1
  if (a.h !== b.h) return a.h < b.h ? -1 : 1
  if (a.o !== b.o) return a.o < b.o ? -1 : 1
  return 0
}

function newer (incoming: Stamp, current: Stamp | undefined): boolean {
  return compareStamps(incoming, current) > 0
}

export function emptyRecord (id: string): EntityRecord {
  return { id, attrs: {} }
}

/**
 * Merges a change into a record (in place). Returns whether anything in the record changed.
 */
export function mergeChange (rec: EntityRecord, ch: Change): boolean {
  const stamp: Stamp = { h: ch.h, o: ch.o }
  let changed = false
  // Below the compaction floor, a write to an absent register lost to a compacted tombstone.
  const stale = rec.floor != null && ch.h < rec.floor
  if (ch.c === 1 && newer(stamp, rec.created) && !(stale && rec.created == null)) { rec.created = stamp; changed = true }
  if (ch.d === 1 && newer(stamp, rec.deleted)) { rec.deleted = stamp; changed = true }
  if (ch.t != null && newer(stamp, rec.types) && !(stale && rec.types == null)) { rec.types = { h: ch.h, o: ch.o, v: ch.t }; changed = true }
  if (ch.s !== undefined && newer(stamp, rec.scope) && !(stale && rec.scope == null)) { rec.scope = { h: ch.h, o: ch.o, v: ch.s }; changed = true }
  if (ch.a != null) {
    for (const [name, inst, value] of ch.a) {
      const current = rec.attrs[name]?.[inst]
      if (stale && current == null) continue
      if (newer(stamp, current)) {
        const instances = rec.attrs[name] ?? (rec.attrs[name] = {})
        instances[inst] = { h: ch.h, o: ch.o, v: value }
        changed = true
      }
    }
  }
  return changed
}

/**
 * Like mergeChange, but leaves `rec` untouched and returns a new record that shares every part
 * the change does not touch (registers are never mutated, only replaced).
 */
export function mergedCopy (rec: EntityRecord, ch: Change): { rec: EntityRecord, changed: boolean } {
  // Object.assign, not spread: on Node 20 spreading into a literal with extra members is ~30× slower.
  const next: EntityRecord = Object.assign({}, rec)
  next.attrs = Object.assign({}, rec.attrs)
  if (ch.a != null) for (const [name] of ch.a) if (rec.attrs[name] != null) next.attrs[name] = Object.assign({}, rec.attrs[name])
  const changed = mergeChange(next, ch)
  return { rec: changed ? next : rec, changed }
}

/** Merges two whole records (anti-entropy snapshots). Returns a new record. */
export function mergeRecords (a: EntityRecord, b: EntityRecord): EntityRecord {
  const out: EntityRecord = structuredClone(a)
  const pick = <T extends Stamp>(x: T | undefined, y: T | undefined): T | undefined => compareStamps(x, y) >= 0 ? x : y
  const floor = a.floor ?? ''
  const fresh = <T extends Stamp>(ours: T | undefined, theirs: T | undefined): T | undefined =>
    ours == null && theirs != null && floor !== '' && theirs.h < floor ? undefined : pick(ours, theirs)
  out.created = fresh(a.created, b.created)
  out.deleted = pick(a.deleted, b.deleted)
  out.types = fresh(a.types, b.types)
  out.scope = fresh(a.scope, b.scope)
  for (const [name, instances] of Object.entries(b.attrs)) {
    for (const [inst, reg] of Object.entries(instances)) {
      const ours = out.attrs[name]?.[inst]
      if (ours == null && floor !== '' && reg.h < floor) continue
      if (compareStamps(reg, ours) > 0) (out.attrs[name] ??= {})[inst] = structuredClone(reg)
    }
  }
  if (b.floor != null && (a.floor == null || b.floor > a.floor)) out.floor = b.floor
  return out
}

/** Is this register visible (written after the last entity delete)? */
function live (s: Stamp | undefined, deleted: Stamp | undefined): s is Stamp {
  return s != null && compareStamps(s, deleted) > 0
}

/**
 * The entity as clients see it, or null if it does not exist (never created, or deleted and not
 * written since). createdAt/modifiedAt come from the stamps' wall clocks, so every replica shows
 * the same ones.
 */
export function viewOf (rec: EntityRecord): Entity | null {
  const del = rec.deleted
  let latest: Stamp | undefined
  let earliest: Stamp | undefined
  let exists = false
  const see = (s: Stamp, evidence = true): void => {
    if (compareStamps(s, latest) > 0) latest = s
    if (!evidence) return
    exists = true
    if (earliest == null || compareStamps(s, earliest) < 0) earliest = s
  }
  const attrs: Record<string, Attribute[]> = {}
  for (const name in rec.attrs) {
    const instances = rec.attrs[name]
    let out: Attribute[] | undefined
    for (const inst in instances) {
      const reg = instances[inst]
      if (!live(reg, del)) continue
      // A live attribute tombstone modifies the entity but is no evidence that it exists.
      see(reg, reg.v != null)
      if (reg.v == null) continue
      const modifiedAt = hlcToIso(reg.h)
      const attr: Attribute = Object.assign({}, reg.v)
      if (attr.createdAt == null) attr.createdAt = modifiedAt
      attr.modifiedAt = modifiedAt
      attr.writer = reg.o
      if (inst !== DEFAULT_INSTANCE) attr.datasetId = inst
      if (out == null) out = [attr]; else out.push(attr)
    }
    if (out == null) continue
    // The default instance first, then by datasetId: a stable order for every replica.
    if (out.length > 1) out.sort((x, y) => (x.datasetId ?? '') < (y.datasetId ?? '') ? -1 : (x.datasetId ?? '') > (y.datasetId ?? '') ? 1 : 0)
    attrs[name] = out
  }
  const createdLive = live(rec.created, del)
  if (createdLive) see(rec.created as Stamp)
  if (live(rec.types, del)) see(rec.types)
  if (live(rec.scope, del)) see(rec.scope)
  // Exists if created after the last delete, or written after it (a concurrent update wins over
  // an earlier delete); it needs a type either way.
  if (!exists || latest == null || earliest == null || rec.types == null || rec.types.v.length === 0) return null
  const entity: Entity = {
    id: rec.id,
    type: rec.types.v,
    attrs,
    createdAt: hlcToIso((createdLive ? rec.created as Stamp : earliest).h),
    modifiedAt: hlcToIso(latest.h),
    owner: createdLive ? (rec.created as Stamp).o : earliest.o
  }
  if (live(rec.scope, del) && rec.scope.v != null && rec.scope.v.length > 0) entity.scope = rec.scope.v
  return entity
}

/** Removes registers that no longer matter: tombstones and values hidden by an entity delete older than `before`. */
/**
 * Drops what no longer matters from a record: attribute tombstones and registers hidden by an
 * entity delete, older than `before`; the record's floor remembers the cut. Returns a new record
 * when something was dropped, else the same one.
 */
export function compactRecord (rec: EntityRecord, before: Hlc): EntityRecord {
  const del = rec.deleted
  let out: EntityRecord | undefined
  const copy = (): EntityRecord => { out ??= { ...structuredClone(rec) }; return out }
  for (const [name, instances] of Object.entries(rec.attrs)) {
    for (const [inst, reg] of Object.entries(instances)) {
      if (reg.h < before && (reg.v == null || !live(reg, del))) {
        const o = copy()
        delete o.attrs[name][inst]
        if (Object.keys(o.attrs[name]).length === 0) delete o.attrs[name]
      }
    }
  }
  for (const k of ['created', 'types', 'scope'] as const) {
    const reg = rec[k]
    if (reg != null && reg.h < before && !live(reg, del)) delete copy()[k]
  }
  if (out == null) return rec
  const result: EntityRecord = out
  if (result.floor == null || before > result.floor) result.floor = before
  return result
}

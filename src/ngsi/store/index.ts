/**
 * The NGSI-LD entity store: replicated registers (CRDT) on LevelDB, with indexes, a per-origin
 * change log, and in-memory indexes (by type, by attribute, all ids) with counts for discovery.
 *
 * ```ts
 * const store = new EntityStore({ db, log }, { domain: 'domain-a' })
 * await store.start()
 * await store.mutate(id, current => current == null ? { create: true, types: [t], attrs: [...] } : null)
 * for await (const chunk of store.scan({ types: [t] })) for (const e of chunk) { … }  // id order
 * store.events.addEventListener('change', e => e.detail.change)  // local and replicated writes
 * ```
 */
export {
  EntityStore, type Mutation, type Planner, type WriteResult, type BatchItemResult, type ChangeEventDetail,
  type StoreEvents, type ScanSource, type EntityStoreInit, type EntityStoreComponents, type EnvelopeEventDetail
} from './store.ts'
export {
  DEFAULT_INSTANCE, compareStamps, mergeChange, mergedCopy, mergeRecords, viewOf, compactRecord, emptyRecord,
  type Change, type EntityRecord, type Register, type Stamp, type AttrWrite, type Envelope, type SignedEnvelope
} from './crdt.ts'
export { HybridClock, formatHlc, parseHlc, hlcToIso, isHlc, ClockDriftError, MAX_DRIFT_MS, type Hlc } from './hlc.ts'
export { EntityIndex, type AttributeStats, type TypeStats } from './entity-index.ts'

/**
 * The NGSI-LD broker's operations on expanded entities, independent of HTTP: the REST routes call
 * these, and so can the node itself (its own Domain entity, trust scores, …). Each write is one
 * store mutation (one Change); batches are one LevelDB batch, atomic per entity.
 */
import type { Logger } from 'pino'
import { NgsiError, ResourceNotFoundError } from './errors.ts'
import {
  planAppend, planCreate, planDelete, planDeleteAttribute, planMerge, planPartialAttribute, planReplace,
  planReplaceAttribute, planUpdate, planUpsert, patchesOf, type AttrPatch, type MergeAttribute, type UpdateOutcome
} from './operations.ts'
import { assertSelective, compileSelection, compileSelectors, isSelective, runQuery, type EntitySelection, type QueryPage } from './query-engine.ts'
import type { EntityStore, Planner, WriteResult } from './store/index.ts'
import type { Attribute, Entity } from './types.ts'

export interface BatchError { entityId: string, error: NgsiError | Error }
export interface BatchOutcome { success: string[], errors: BatchError[] }

export interface NgsiServiceComponents {
  store: EntityStore
  log: Logger
  /** merges a partial attribute into an existing one (5.6.4 semantics) */
  mergeAttribute: MergeAttribute
}

export class NgsiService {
  readonly store: EntityStore
  private readonly log: Logger
  private readonly mergeAttribute: MergeAttribute

  constructor (components: NgsiServiceComponents) {
    this.store = components.store
    this.log = components.log
    this.mergeAttribute = components.mergeAttribute
  }

  async getEntity (id: string): Promise<Entity> {
    const e = await this.store.get(id)
    if (e == null) throw new ResourceNotFoundError(`entity ${id} not found`, { id })
    return e
  }

  async createEntity (entity: Entity): Promise<WriteResult> {
    return await this.store.mutate(entity.id, planCreate(entity))
  }

  async deleteEntity (id: string): Promise<WriteResult> {
    return await this.store.mutate(id, planDelete())
  }

  async replaceEntity (entity: Entity): Promise<WriteResult> {
    return await this.store.mutate(entity.id, planReplace(entity))
  }

  async mergeEntity (id: string, patches: AttrPatch[], opts: { types?: string[], scope?: string[] } = {}): Promise<UpdateOutcome> {
    const { planner, outcome } = planMerge(patches, { ...opts, mergeAttribute: this.mergeAttribute })
    await this.store.mutate(id, planner)
    return outcome
  }

  async appendAttributes (id: string, patches: AttrPatch[], opts: { noOverwrite: boolean, types?: string[], scope?: string[] }): Promise<UpdateOutcome> {
    const { planner, outcome } = planAppend(patches, opts)
    await this.store.mutate(id, planner)
    return outcome
  }

  async updateAttributes (id: string, patches: AttrPatch[], opts: { types?: string[] } = {}): Promise<UpdateOutcome> {
    const { planner, outcome } = planUpdate(patches, opts)
    await this.store.mutate(id, planner)
    return outcome
  }

  async partialUpdateAttribute (id: string, name: string, patch: Partial<Attribute>, datasetId: string | undefined, removals: string[][] = []): Promise<void> {
    await this.store.mutate(id, planPartialAttribute(name, patch, datasetId, removals, this.mergeAttribute))
  }

  async replaceAttribute (id: string, name: string, attrs: Attribute[]): Promise<void> {
    await this.store.mutate(id, planReplaceAttribute(name, attrs))
  }

  async deleteAttribute (id: string, name: string, opts: { datasetId?: string, deleteAll?: boolean }): Promise<void> {
    await this.store.mutate(id, planDeleteAttribute(name, opts))
  }

  async query (selection: EntitySelection, expandTerm: (t: string) => string, page: { offset: number, limit: number, count: boolean }): Promise<QueryPage & { attrs?: Set<string> }> {
    assertSelective(selection)
    const compiled = compileSelection(selection, expandTerm)
    return { ...await runQuery(this.store, compiled, page), attrs: compiled.attrs }
  }

  /** Query via POST: any of the selectors, all of the common filters. */
  async queryAny (selectors: Array<Pick<EntitySelection, 'ids' | 'idPattern' | 'type'>>, common: Omit<EntitySelection, 'ids' | 'idPattern' | 'type'>, expandTerm: (t: string) => string, page: { offset: number, limit: number, count: boolean }): Promise<QueryPage & { attrs?: Set<string> }> {
    if (!selectors.some(s => isSelective(s)) && !isSelective(common)) assertSelective({})
    const compiled = compileSelectors(selectors, common, expandTerm)
    return { ...await runQuery(this.store, compiled, page), attrs: compiled.attrs }
  }

  // Batch operations (5.6.7–5.6.10, 5.6.20): one LevelDB batch, atomic per entity.

  async batchCreate (entities: Entity[]): Promise<BatchOutcome> {
    return await this.batch(entities.map(e => [e.id, planCreate(e)]))
  }

  async batchUpsert (entities: Entity[], mode: 'replace' | 'update'): Promise<BatchOutcome & { created: string[] }> {
    const plans = entities.map(e => ({ id: e.id, ...planUpsert(e, mode) }))
    const outcome = await this.batch(plans.map(p => [p.id, p.planner]))
    const ok = new Set(outcome.success)
    return { ...outcome, created: plans.filter(p => ok.has(p.id) && p.created()).map(p => p.id) }
  }

  async batchUpdate (entities: Entity[], noOverwrite: boolean): Promise<BatchOutcome> {
    return await this.batch(entities.map(e => [e.id, planAppend(patchesOf(e), { noOverwrite, types: e.type }).planner]))
  }

  async batchMerge (entities: Entity[]): Promise<BatchOutcome> {
    return await this.batch(entities.map(e => [e.id, planMerge(patchesOf(e), { types: e.type, scope: e.scope, mergeAttribute: this.mergeAttribute }).planner]))
  }

  async batchMergePatches (items: Array<{ id: string, types?: string[], scope?: string[], patches: AttrPatch[] }>): Promise<BatchOutcome> {
    return await this.batch(items.map(i => [i.id, planMerge(i.patches, { types: i.types != null && i.types.length > 0 ? i.types : undefined, scope: i.scope, mergeAttribute: this.mergeAttribute }).planner]))
  }

  async batchDelete (ids: string[]): Promise<BatchOutcome> {
    return await this.batch(ids.map(id => [id, planDelete()]))
  }

  private async batch (plans: Array<[string, Planner]>): Promise<BatchOutcome> {
    // The same id may come several times: its planners run in order, each on the previous result.
    const queues = new Map<string, Planner[]>()
    for (const [id, p] of plans) {
      const q = queues.get(id)
      if (q == null) queues.set(id, [p]); else q.push(p)
    }
    const items = await this.store.mutateMany(plans.map(([id]) => id), (current, id) => {
      const next = queues.get(id)?.shift()
      if (next == null) throw new Error(`no plan for ${id}`)
      return next(current, id)
    })
    const errors: BatchError[] = []
    const failed = new Set<string>()
    for (const item of items) {
      if (item.error == null) continue
      errors.push({ entityId: item.id, error: item.error as Error })
      failed.add(item.id)
      if (!(item.error instanceof NgsiError)) this.log.error({ err: item.error, id: item.id }, 'batch item failed')
    }
    const success = [...new Set(items.filter(i => i.error == null && !failed.has(i.id)).map(i => i.id))]
    return { success, errors }
  }
}

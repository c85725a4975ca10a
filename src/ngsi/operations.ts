/**
 * NGSI-LD operations (clause 5.6) as planners for the entity store: each turns a request into the
 * register writes it implies, given the entity's current state, or throws the NGSI-LD error the
 * spec prescribes. Nothing here touches storage; `EntityStore.mutate` runs the planner under the
 * entity's lock and commits the result.
 */
import { DEFAULT_INSTANCE, type AttrWrite, type Mutation, type Planner } from './store/index.ts'
import { AlreadyExistsError, BadRequestDataError, ResourceNotFoundError } from './errors.ts'
import type { Attribute, Entity } from './types.ts'

/** UpdateResult (5.2.18): what an attribute operation changed and what it did not, and why. */
export interface UpdateOutcome {
  updated: string[]
  notUpdated: Array<{ attributeName: string, reason: string }>
}

/**
 * One attribute instance of a request. In a merge, `attr: null` deletes the instance (NGSI-LD
 * Null), and `removals` are paths inside it to delete (sub-attributes, observedAt, unitCode).
 */
export interface AttrPatch {
  name: string
  datasetId?: string
  attr: Attribute | null
  removals?: string[][]
}

/** Merges a (partial) attribute into an existing one; `removals` are paths to delete inside it. */
export type MergeAttribute = (existing: Attribute, patch: Partial<Attribute>, removals?: ReadonlyArray<readonly string[]>) => Attribute

const instanceKey = (datasetId: string | undefined): string => datasetId ?? DEFAULT_INSTANCE

function findInstance (entity: Entity, name: string, datasetId: string | undefined): Attribute | undefined {
  return entity.attrs[name]?.find(a => a.datasetId === datasetId)
}

/** The value to store for an instance: system fields dropped, createdAt kept from the old one. */
function stored (attr: Attribute, previous: Attribute | undefined): Attribute {
  const { modifiedAt: _m, writer: _w, createdAt: _c, datasetId: _d, ...rest } = attr
  if (previous?.createdAt != null) (rest as Attribute).createdAt = previous.createdAt
  return rest
}

function writesFor (entity: Entity, previous: Entity | null): AttrWrite[] {
  const out: AttrWrite[] = []
  for (const [name, instances] of Object.entries(entity.attrs)) {
    for (const a of instances) {
      out.push([name, instanceKey(a.datasetId), stored(a, previous == null ? undefined : findInstance(previous, name, a.datasetId))])
    }
  }
  return out
}

function mustExist (current: Entity | null, id: string): Entity {
  if (current == null) throw new ResourceNotFoundError(`entity ${id} not found`, { id })
  return current
}

function unionTypes (a: string[], b: string[] | undefined): string[] | undefined {
  if (b == null || b.every(t => a.includes(t))) return undefined
  return [...a, ...b.filter(t => !a.includes(t))]
}

/** Create Entity (5.6.1). */
export function planCreate (entity: Entity): Planner {
  return (current) => {
    if (current != null) throw new AlreadyExistsError(entity.id)
    return { create: true, types: entity.type, scope: entity.scope ?? null, attrs: writesFor(entity, null) }
  }
}

/** Delete Entity (5.6.6). */
export function planDelete (): Planner {
  return (current, id) => {
    mustExist(current, id)
    return { deleteEntity: true }
  }
}

/** Replace Entity (5.6.18): the new content replaces every attribute; absent ones are deleted. */
export function planReplace (entity: Entity): Planner {
  return (current, id) => {
    const cur = mustExist(current, id)
    const attrs = writesFor(entity, cur)
    for (const [name, instances] of Object.entries(cur.attrs)) {
      for (const a of instances) {
        if (findInstance(entity, name, a.datasetId) == null) attrs.push([name, instanceKey(a.datasetId), null])
      }
    }
    return { types: entity.type, scope: entity.scope ?? null, attrs }
  }
}

/**
 * Append Attributes (5.6.3): adds attributes, overwriting existing ones unless `noOverwrite`
 * (then they are reported as not updated). Types in the fragment are added to the entity's.
 */
export function planAppend (patches: AttrPatch[], opts: { noOverwrite: boolean, types?: string[], scope?: string[] }): { planner: Planner, outcome: UpdateOutcome } {
  const outcome: UpdateOutcome = { updated: [], notUpdated: [] }
  const planner: Planner = (current, id) => {
    const cur = mustExist(current, id)
    outcome.updated = []; outcome.notUpdated = []
    const attrs: AttrWrite[] = []
    for (const p of patches) {
      const prev = findInstance(cur, p.name, p.datasetId)
      if (p.attr == null) throw new BadRequestDataError(`attribute ${p.name}: null is only allowed in a merge`)
      if (prev != null && opts.noOverwrite) {
        outcome.notUpdated.push({ attributeName: p.name, reason: 'attribute exists and options=noOverwrite was given' })
        continue
      }
      attrs.push([p.name, instanceKey(p.datasetId), stored(p.attr, prev)])
      outcome.updated.push(p.name)
    }
    const m: Mutation = { attrs, types: unionTypes(cur.type, opts.types) }
    if (opts.scope != null) m.scope = opts.scope
    return m
  }
  return { planner, outcome }
}

/** Update Attributes (5.6.2): replaces attributes that exist; the others are reported. */
export function planUpdate (patches: AttrPatch[], opts: { types?: string[] } = {}): { planner: Planner, outcome: UpdateOutcome } {
  const outcome: UpdateOutcome = { updated: [], notUpdated: [] }
  const planner: Planner = (current, id) => {
    const cur = mustExist(current, id)
    outcome.updated = []; outcome.notUpdated = []
    const attrs: AttrWrite[] = []
    for (const p of patches) {
      const prev = findInstance(cur, p.name, p.datasetId)
      if (prev == null || p.attr == null) {
        outcome.notUpdated.push({ attributeName: p.name, reason: p.datasetId == null ? 'attribute does not exist' : `attribute instance with datasetId ${p.datasetId} does not exist` })
        continue
      }
      attrs.push([p.name, instanceKey(p.datasetId), stored(p.attr, prev)])
      outcome.updated.push(p.name)
    }
    return { attrs, types: unionTypes(cur.type, opts.types) }
  }
  return { planner, outcome }
}

/**
 * Merge Entity (5.6.17) and batch merge: attributes present are merged into existing ones
 * (`mergeAttribute` decides how members combine) or added; null (NGSI-LD Null) deletes.
 */
export function planMerge (patches: AttrPatch[], opts: { types?: string[], scope?: string[], mergeAttribute: MergeAttribute }): { planner: Planner, outcome: UpdateOutcome } {
  const outcome: UpdateOutcome = { updated: [], notUpdated: [] }
  const planner: Planner = (current, id) => {
    const cur = mustExist(current, id)
    outcome.updated = []; outcome.notUpdated = []
    const attrs: AttrWrite[] = []
    for (const p of patches) {
      const prev = findInstance(cur, p.name, p.datasetId)
      if (p.attr == null && (p.removals == null || p.removals.length === 0)) {
        if (prev == null) {
          outcome.notUpdated.push({ attributeName: p.name, reason: 'attribute to delete does not exist' })
          continue
        }
        attrs.push([p.name, instanceKey(p.datasetId), null])
      } else if (prev == null) {
        if (p.attr == null) {
          outcome.notUpdated.push({ attributeName: p.name, reason: 'attribute to delete from does not exist' })
          continue
        }
        attrs.push([p.name, instanceKey(p.datasetId), stored(p.attr, prev)])
      } else {
        attrs.push([p.name, instanceKey(p.datasetId), stored(opts.mergeAttribute(prev, p.attr ?? {}, p.removals ?? []), prev)])
      }
      outcome.updated.push(p.name)
    }
    const m: Mutation = { attrs, types: unionTypes(cur.type, opts.types) }
    if (opts.scope != null) m.scope = opts.scope
    return m
  }
  return { planner, outcome }
}

/** Partial Attribute Update (5.6.4): merges the given members into one existing instance. */
export function planPartialAttribute (name: string, patch: Partial<Attribute>, datasetId: string | undefined, removals: string[][], mergeAttribute: MergeAttribute): Planner {
  return (current, id) => {
    const cur = mustExist(current, id)
    const prev = findInstance(cur, name, datasetId)
    if (prev == null) throw new ResourceNotFoundError(`attribute ${name}${datasetId != null ? ` (datasetId ${datasetId})` : ''} of ${id} not found`, { id, attr: name })
    return { attrs: [[name, instanceKey(datasetId), stored(mergeAttribute(prev, patch, removals), prev)]] }
  }
}

/** Replace Attribute (5.6.19): the attribute instance must exist and is replaced whole. */
export function planReplaceAttribute (name: string, attrs: Attribute[]): Planner {
  return (current, id) => {
    const cur = mustExist(current, id)
    const writes: AttrWrite[] = []
    for (const a of attrs) {
      const prev = findInstance(cur, name, a.datasetId)
      if (prev == null) throw new ResourceNotFoundError(`attribute ${name}${a.datasetId != null ? ` (datasetId ${a.datasetId})` : ''} of ${id} not found`, { id, attr: name })
      writes.push([name, instanceKey(a.datasetId), stored(a, prev)])
    }
    return { attrs: writes }
  }
}

/** Delete Attribute (5.6.5): one instance (default or datasetId), or all with deleteAll. */
export function planDeleteAttribute (name: string, opts: { datasetId?: string, deleteAll?: boolean }): Planner {
  return (current, id) => {
    const cur = mustExist(current, id)
    const instances = cur.attrs[name] ?? []
    const targets = opts.deleteAll === true ? instances : instances.filter(a => a.datasetId === opts.datasetId)
    if (targets.length === 0) {
      throw new ResourceNotFoundError(`attribute ${name}${opts.datasetId != null ? ` (datasetId ${opts.datasetId})` : ''} of ${id} not found`, { id, attr: name })
    }
    return { attrs: targets.map(a => [name, instanceKey(a.datasetId), null] as AttrWrite) }
  }
}

/**
 * Batch upsert (5.6.8): creates entities that do not exist; existing ones are replaced
 * (`replace`, the default) or get the attributes appended with overwrite (`update`).
 */
export function planUpsert (entity: Entity, mode: 'replace' | 'update'): { planner: Planner, created: () => boolean } {
  let created = false
  const create = planCreate(entity)
  const replace = planReplace(entity)
  const update = planAppend(patchesOf(entity), { noOverwrite: false, types: entity.type, scope: entity.scope }).planner
  return {
    planner: (current, id) => {
      created = current == null
      if (current == null) return create(current, id)
      return mode === 'replace' ? replace(current, id) : update(current, id)
    },
    created: () => created
  }
}

/** The attributes of an expanded entity as a list of patches. */
export function patchesOf (entity: Entity): AttrPatch[] {
  const out: AttrPatch[] = []
  for (const [name, instances] of Object.entries(entity.attrs)) {
    for (const a of instances) out.push({ name, datasetId: a.datasetId, attr: a })
  }
  return out
}

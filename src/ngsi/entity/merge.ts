/**
 * Partial attribute update (5.6.4) and merge (5.6.17) on the internal model: the patch's
 * members replace the stored ones, the members it leaves out stay, sub-attributes are merged by
 * name, and deletions (NGSI-LD Null) remove instances, sub-attributes or members.
 */
import { BadRequestDataError } from '../errors.ts'
import type { Attribute, Entity } from '../types.ts'
import { KIND_TERM, MODEL_MEMBER, VALUE_MEMBER } from './constants.ts'
import { validateGeometry } from './geometry.ts'
import type { Deletion } from './interface.ts'

const VALUE_KEYS = ['value', 'object', 'languageMap', 'vocab', 'valueList', 'objectList'] as const

/**
 * `existing` with `patch` merged in (neither is modified). A patch `type` different from the
 * stored one changes the kind (the old value member is dropped, so the patch must bring the
 * new one); a value member of another kind without `type` is refused. languageMap entries are
 * merged per language tag, `sub` per name (a patched sub-attribute replaces the stored one).
 * createdAt and datasetId stay; modifiedAt/writer are taken from the patch when it has them.
 * `removals` are deletion paths inside the attribute (Deletion.path).
 */
export function mergeAttribute (existing: Attribute, patch: Partial<Attribute>, removals: ReadonlyArray<readonly string[]> = []): Attribute {
  const out: Attribute = { ...existing }
  const kindChanges = patch.type !== undefined && patch.type !== existing.type
  if (kindChanges) {
    for (const k of VALUE_KEYS) delete out[k]
    out.type = patch.type as Attribute['type']
  }
  for (const k of VALUE_KEYS) {
    if (patch[k] === undefined) continue
    if (!kindChanges && MODEL_MEMBER[out.type] !== k) {
      throw new BadRequestDataError(`attribute is a ${KIND_TERM[out.type]}: give its type to change its kind (the member ${VALUE_MEMBER[out.type]} is expected)`)
    }
    out[k] = patch[k] as never
  }
  if (!kindChanges && patch.languageMap !== undefined && existing.languageMap !== undefined) {
    out.languageMap = { ...existing.languageMap, ...patch.languageMap }
  }
  if (patch.observedAt !== undefined) out.observedAt = patch.observedAt
  if (patch.unitCode !== undefined) out.unitCode = patch.unitCode
  if (patch.modifiedAt !== undefined) out.modifiedAt = patch.modifiedAt
  if (patch.writer !== undefined) out.writer = patch.writer
  if (out.createdAt === undefined && patch.createdAt !== undefined) out.createdAt = patch.createdAt
  if (patch.sub !== undefined) out.sub = { ...existing.sub, ...patch.sub }

  let result = out
  for (const path of removals) result = removeFromAttribute(result, path)

  if (result[MODEL_MEMBER[result.type]] === undefined) {
    throw new BadRequestDataError(`a ${KIND_TERM[result.type]} needs ${VALUE_MEMBER[result.type]}`)
  }
  if (result.type === 'GeoProperty') {
    const problem = validateGeometry(result.value)
    if (problem !== null) throw new BadRequestDataError(`invalid GeoJSON geometry: ${problem}`)
  }
  return result
}

/** `attr` without what `path` names (a sub-attribute, or the member observedAt/unitCode, at any depth). */
export function removeFromAttribute (attr: Attribute, path: readonly string[]): Attribute {
  const [head, ...rest] = path
  if (head === undefined) return attr
  if (rest.length === 0 && (head === 'observedAt' || head === 'unitCode')) {
    if (attr[head] === undefined) return attr
    const out = { ...attr }
    delete out[head]
    return out
  }
  const sub = attr.sub?.[head]
  if (sub === undefined) return attr
  const subs = { ...attr.sub }
  if (rest.length === 0) delete subs[head]
  else subs[head] = removeFromAttribute(sub, rest)
  const out: Attribute = { ...attr, sub: subs }
  if (Object.keys(subs).length === 0) delete out.sub
  return out
}

/**
 * Applies one deletion to `entity` in place: drops the instance (the default one when
 * `datasetId` is absent) or what `path` names inside it. Returns false when nothing matched.
 */
export function applyDeletion (entity: Entity, d: Deletion): boolean {
  const instances = entity.attrs[d.attr]
  if (instances === undefined) return false
  const i = instances.findIndex(a => a.datasetId === d.datasetId)
  if (i < 0) return false
  const target = instances[i] as Attribute
  if (d.path === undefined || d.path.length === 0) {
    const left = instances.filter((_, j) => j !== i)
    if (left.length === 0) delete entity.attrs[d.attr]
    else entity.attrs[d.attr] = left
    return true
  }
  const changed = removeFromAttribute(target, d.path)
  if (changed === target) return false
  entity.attrs[d.attr] = instances.map((a, j) => j === i ? changed : a)
  return true
}

/**
 * The NGSI-LD entity representation layer. Input: request bodies (normalized or concise) are
 * validated and expanded against the request's CompiledContext into the internal model of
 * types.ts (expandEntity, expandEntityPatch for merges, expandAttributes, expandAttribute,
 * expandAttributeFragment + mergeAttribute for partial updates). Output: stored entities are
 * compacted into normalized / concise / keyValues or GeoJSON (compactEntity, toGeoJsonFeature,
 * toFeatureCollection). Invalid input is a BadRequestDataError naming the attribute.
 *
 * @example
 * ```ts
 * const ctx = await contexts.resolve(linkHeaderUrl)
 * const entity = expandEntity(body, ctx, { requireType: true })
 * // … store it, later:
 * const json = compactEntity(entity, ctx, { format: 'concise', sysAttrs: false })
 * const { entity: partial, deletions } = expandEntityPatch(mergeBody, ctx, { requireType: false, entityId })
 * ```
 */
export {
  expandAttribute, expandAttributeFragment, expandAttributes, expandEntity, expandEntityPatch, isDateTime, isUri
} from './expand.ts'
export { applyDeletion, mergeAttribute, removeFromAttribute } from './merge.ts'
export { compactEntity, toFeatureCollection, toGeoJsonFeature } from './compact.ts'
export type { GeoJsonFeature, GeoJsonFeatureCollection } from './compact.ts'
export { looksLikeGeometry } from './geometry.ts'
export { GEO_PROPERTY_NAMES, KIND_TERM } from './constants.ts'
export type {
  AttributePatch, AttributesPatch, Deletion, EntityPatch, ExpandAttributeOptions, ExpandAttributesOptions, ExpandEntityOptions
} from './interface.ts'

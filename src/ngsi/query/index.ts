/**
 * Pure query evaluation for NGSI-LD entities: the `q` language (clause 4.9), the entity type
 * selection language (4.17) and geo-queries (4.10). Each comes in three steps so that the
 * expensive work happens once per request or subscription, not once per entity: parse the text
 * (syntax errors → InvalidRequestError with a position), bind it to the request's @context
 * (names expanded, regexes compiled, geometry prepared), then evaluate the bound form against as
 * many entities (in the expanded shape of `../types.ts`) as needed. Nothing here does I/O.
 *
 * ```ts
 * const q = bindQ(parseQ('temperature>20;name[fr]~="(?i)^pa"'), expandTerm)
 * const types = bindTypeSelector(parseTypeSelector('(Building;Home),Vehicle'), expandTerm)
 * const geo = parseGeoQuery({ georel: 'near;maxDistance==2000', geometry: 'Point', coordinates: '[-3.7038,40.4168]' })
 * const near = geo === null ? null : bindGeoQuery(geo, expandTerm)
 * const hits = entities.filter(e => matchTypes(types, e.type) && evaluateQ(q, e) && (near === null || evaluateGeo(near, e)))
 * // index hints: candidateTypes(types), requiredAttributes(q)
 * ```
 */
export {
  parseQ, bindQ, evaluateQ, referencedAttributes, requiredAttributes,
  type QExpr, type QPath, type QValue, type QLiteral, type QOperator, type BoundQ
} from './q.ts'
export {
  parseTypeSelector, bindTypeSelector, matchTypes, candidateTypes,
  type TypeSelector, type BoundTypeSelector
} from './type-selector.ts'
export {
  parseGeoQuery, bindGeoQuery, evaluateGeo, validateGeometry,
  type GeoQuery, type GeoQueryParams, type GeoQueryOptions, type GeoRelation, type QueryGeometryType, type BoundGeoQuery
} from './geo.ts'
export { MAX_QUERY_LENGTH, MAX_QUERY_NODES, MAX_QUERY_DEPTH, MAX_PATTERN_LENGTH } from './constants.ts'

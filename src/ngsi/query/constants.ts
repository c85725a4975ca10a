/**
 * Limits and fixed names of the query languages. A q expression or a type selector is compiled
 * once per request or subscription and then run against every candidate entity, so these limits
 * protect the evaluation loop (and the recursive-descent parser's stack), not the parser alone.
 */
import { LOCATION, OBSERVATION_SPACE, OPERATION_SPACE } from '../types.ts'

/**
 * Longest q / type selector text accepted. Query strings reach us through URLs (which proxies cap
 * around 8 KiB) or request bodies; nothing legitimate is longer, and a huge expression is a
 * denial-of-service vector since it runs once per entity.
 */
export const MAX_QUERY_LENGTH = 8192

/**
 * Most AST nodes (terms, AND/OR nodes, values of a value list) one expression may have. Matches
 * the "e.g. 256 nodes" budget of the design; beyond it → TooComplexQuery (403), as brokers do.
 */
export const MAX_QUERY_NODES = 256

/**
 * Deepest parenthesis nesting. The parser and the compiled evaluator both recurse once per level;
 * 32 is far above anything a person writes and far below any stack limit.
 */
export const MAX_QUERY_DEPTH = 32

/**
 * Longest regular expression after `~=` / `!~=`. Patterns run against every entity; a short cap
 * does not stop catastrophic backtracking but keeps the worst cases smaller.
 */
export const MAX_PATTERN_LENGTH = 1024

/**
 * Names that, after a dot, address an attribute instance's metadata rather than a sub-attribute
 * (`temperature.observedAt`). They are core NGSI-LD members, never expanded against a user's
 * @context, so `bindQ` leaves them as they are.
 */
export const METADATA_MEMBERS: ReadonlySet<string> = new Set(['observedAt', 'unitCode', 'createdAt', 'modifiedAt', 'datasetId'])

/** The six query geometries of NGSI-LD 4.10 (GeometryCollection is valid GeoJSON but not a query shape). */
export const QUERY_GEOMETRY_TYPES = ['Point', 'MultiPoint', 'LineString', 'MultiLineString', 'Polygon', 'MultiPolygon'] as const

/** Geo-relations of NGSI-LD 4.10 besides `near`, which takes a distance. */
export const SIMPLE_GEORELS = ['within', 'contains', 'intersects', 'disjoint', 'equals', 'overlaps'] as const

/**
 * Core GeoProperty names whose expansion is fixed by the (protected) core @context; a user
 * context cannot redefine them, so they resolve without asking `expandTerm`.
 */
export const CORE_GEOPROPERTIES: Readonly<Record<string, string>> = {
  location: LOCATION,
  observationSpace: OBSERVATION_SPACE,
  operationSpace: OPERATION_SPACE
}

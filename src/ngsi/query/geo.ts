/**
 * Geo-queries (ETSI GS CIM 009 clause 4.10): `georel`, `geometry`, `coordinates`, `geoproperty`,
 * evaluated with turf (@turf/* packages) against an entity's GeoProperty instances.
 *
 * Relations read "entity geometry <georel> query geometry", with the OGC Simple Features meaning:
 * - `within`: the entity's geometry lies inside the query geometry (its boundary alone is not enough);
 * - `contains`: the entity's geometry contains the query geometry;
 * - `intersects` / `disjoint`: they share at least one point / none;
 * - `equals`: the same point set (same coordinates, or each contains the other: a ring may start
 *   anywhere, a line may run either way);
 * - `overlaps`: same dimension, they share part of their interiors, and neither contains the other;
 * - `near;maxDistance==d` / `near;minDistance==d`: the geodesic distance in metres between the
 *   nearest points of the two geometries (0 when they meet, e.g. a point inside a polygon) is
 *   at most / at least d. Both may be given together (a ring around the point).
 *
 * Multi* geometries (and GeometryCollections stored on entities) work in every relation: where
 * turf has no direct support they are decomposed. For contains/within this is exact when the
 * contained side is the multi-geometry (every part must be contained) and an approximation when
 * only the container is (one part must contain the whole, so a line lying across two touching
 * lines of a MultiLineString is not "within" it).
 */
import type { BBox, Geometry, LineString, MultiPolygon, Point, Polygon, Position } from 'geojson'
// turf's packages one by one: the @turf/turf bundle loads all ~120 of them (~0.18 s more at start).
import { area } from '@turf/area'
import { bbox } from '@turf/bbox'
import { booleanContains } from '@turf/boolean-contains'
import { booleanEqual } from '@turf/boolean-equal'
import { booleanIntersects } from '@turf/boolean-intersects'
import { booleanOverlap } from '@turf/boolean-overlap'
import { booleanPointOnLine } from '@turf/boolean-point-on-line'
import { distance } from '@turf/distance'
import { feature, featureCollection, lineString } from '@turf/helpers'
import { intersect } from '@turf/intersect'
import { lineOverlap } from '@turf/line-overlap'
import { coordAll, flattenEach } from '@turf/meta'
import { pointToLineDistance } from '@turf/point-to-line-distance'
import { pointToPolygonDistance } from '@turf/point-to-polygon-distance'
import type { Entity } from '../types.ts'
import { LOCATION } from '../types.ts'
import { BadRequestDataError, InvalidRequestError } from '../errors.ts'
import { CORE_GEOPROPERTIES, QUERY_GEOMETRY_TYPES, SIMPLE_GEORELS } from './constants.ts'

export type GeoRelation = 'near' | typeof SIMPLE_GEORELS[number]
export type QueryGeometryType = typeof QUERY_GEOMETRY_TYPES[number]

export interface GeoQuery {
  georel: GeoRelation
  /** near only, metres */
  maxDistance?: number
  /** near only, metres */
  minDistance?: number
  /** the reference geometry, validated */
  geometry: Geometry
  /** the GeoProperty as given (a term or IRI); undefined = location */
  geoproperty?: string
}

/** The parameters as they arrive: strings from a query string, `coordinates` an array in bodies. */
export interface GeoQueryParams {
  georel?: string
  geometry?: string
  coordinates?: string | unknown
  geoproperty?: string
}

export interface GeoQueryOptions {
  /**
   * Where the parameters came from: 'query' (URI parameters; errors are InvalidRequest and name
   * the parameter) or 'body' (a Query or Subscription `geoQ`; errors are BadRequestData and name
   * `geoQ.<member>`). Default 'query'.
   */
  source?: 'query' | 'body'
}

/** A geo-query bound to one @context: geoproperty expanded, reference geometry prepared. */
export interface BoundGeoQuery {
  readonly query: GeoQuery
  /** expanded GeoProperty name */
  readonly geoproperty: string
  /** the compiled predicate `evaluateGeo` runs */
  readonly matches: (entity: Entity) => boolean
}

// ---------------------------------------------------------------------------------------------
// Validation

const GEOMETRY_TYPES: ReadonlySet<string> = new Set([...QUERY_GEOMETRY_TYPES, 'GeometryCollection'])
const NEAR_DISTANCE = /^(maxDistance|minDistance)==(\d+(?:\.\d+)?)$/
const GEOREL_FORMS = `near;maxDistance==<metres>, near;minDistance==<metres>, ${SIMPLE_GEORELS.join(', ')}`

function position (p: unknown, path: string): string | null {
  if (!Array.isArray(p) || p.length < 2 || p.length > 3 || !p.every(n => typeof n === 'number' && Number.isFinite(n))) {
    return `${path}: expected a position [longitude, latitude] (an optional third number is the altitude)`
  }
  if (p[0] < -180 || p[0] > 180) return `${path}: longitude ${p[0]} is outside [-180, 180]`
  if (p[1] < -90 || p[1] > 90) return `${path}: latitude ${p[1]} is outside [-90, 90]`
  return null
}

function list (value: unknown, path: string, min: number, what: string, item: (v: unknown, path: string) => string | null): string | null {
  if (!Array.isArray(value)) return `${path}: expected an array of ${what}s`
  if (value.length < min) return `${path}: expected at least ${min} ${what}${min > 1 ? 's' : ''}`
  for (let i = 0; i < value.length; i++) {
    const problem = item(value[i], `${path}[${i}]`)
    if (problem !== null) return problem
  }
  return null
}

function checkLine (value: unknown, path: string): string | null {
  return list(value, path, 2, 'position', position)
}

function ring (value: unknown, path: string): string | null {
  const problem = list(value, path, 4, 'position', position)
  if (problem !== null) return problem
  const r = value as number[][]
  const first = r[0]
  const last = r[r.length - 1]
  if (first[0] !== last[0] || first[1] !== last[1]) return `${path}: the linear ring is not closed (its first and last positions differ)`
  return null
}

function polygon (value: unknown, path: string): string | null {
  return list(value, path, 1, 'linear ring', ring)
}

/** Checks `coordinates` for a geometry type; the reason starts with the path (`coordinates[0][2]: …`). */
function checkCoordinates (type: string, coordinates: unknown, path: string): string | null {
  switch (type) {
    case 'Point': return position(coordinates, path)
    case 'MultiPoint': return list(coordinates, path, 1, 'position', position)
    case 'LineString': return checkLine(coordinates, path)
    case 'MultiLineString': return list(coordinates, path, 1, 'line', checkLine)
    case 'Polygon': return polygon(coordinates, path)
    case 'MultiPolygon': return list(coordinates, path, 1, 'polygon', polygon)
    default: return `${path}: unknown geometry type ${type}`
  }
}

function geometryProblem (value: unknown, prefix: string, nested: boolean): string | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return `${prefix === '' ? 'value' : prefix.slice(0, -1)}: a geometry must be a JSON object with "type" and "coordinates"`
  }
  const g = value as Record<string, unknown>
  if (g.type === 'GeometryCollection') {
    if (nested) return `${prefix}type: nested GeometryCollections are not supported`
    if (!Array.isArray(g.geometries)) return `${prefix}geometries: expected an array of geometries`
    for (let i = 0; i < g.geometries.length; i++) {
      const problem = geometryProblem(g.geometries[i], `${prefix}geometries[${i}].`, true)
      if (problem !== null) return problem
    }
    return null
  }
  if (typeof g.type !== 'string' || !GEOMETRY_TYPES.has(g.type)) {
    return `${prefix}type: expected one of ${[...GEOMETRY_TYPES].join(', ')}, got ${JSON.stringify(g.type) ?? 'nothing'}`
  }
  if (g.coordinates === undefined) return `${prefix}coordinates: missing`
  return checkCoordinates(g.type, g.coordinates, `${prefix}coordinates`)
}

/**
 * Null if `value` is a GeoJSON geometry NGSI-LD can store and query (Point, MultiPoint,
 * LineString, MultiLineString, Polygon, MultiPolygon, or a flat GeometryCollection of them, with
 * positions inside [-180, 180] × [-90, 90] and closed rings of ≥ 4 positions), else the reason,
 * starting with the offending member: `coordinates[0][3]: the linear ring is not closed …`.
 */
export function validateGeometry (value: unknown): string | null {
  return geometryProblem(value, '', false)
}

/**
 * Reads the geo-query parameters: null when none of georel / geometry / coordinates is given
 * (geoproperty alone is ignored, as the spec says), otherwise all three are required and checked.
 */
export function parseGeoQuery (params: GeoQueryParams, options: GeoQueryOptions = {}): GeoQuery | null {
  const { georel, geometry, coordinates, geoproperty } = params
  const body = options.source === 'body'
  const prefix = body ? 'geoQ.' : ''
  const fail = (message: string, parameter: string): Error => body
    ? new BadRequestDataError(prefix + message, { parameter: prefix + parameter })
    : new InvalidRequestError(message, { parameter })

  const present = (v: unknown): boolean => v !== undefined && v !== null
  if (!present(georel) && !present(geometry) && !present(coordinates)) return null
  const missing = (['georel', 'geometry', 'coordinates'] as const).filter(k => !present(params[k]))
  if (missing.length > 0) {
    throw fail(`${missing.join(', ')}: missing; georel, geometry and coordinates go together`, missing[0])
  }

  if (typeof georel !== 'string') throw fail('georel: expected a string', 'georel')
  const parts = georel.split(';').map(s => s.trim())
  let relation: GeoRelation
  let maxDistance: number | undefined
  let minDistance: number | undefined
  if (parts[0] === 'near') {
    if (parts.length < 2 || parts.length > 3) {
      throw fail(`georel: near needs maxDistance==<metres> and/or minDistance==<metres>, got '${georel}'`, 'georel')
    }
    for (const part of parts.slice(1)) {
      const m = NEAR_DISTANCE.exec(part)
      if (m === null) throw fail(`georel: expected maxDistance==<metres> or minDistance==<metres> after near;, got '${part}'`, 'georel')
      const d = Number(m[2])
      if (m[1] === 'maxDistance') {
        if (maxDistance !== undefined) throw fail('georel: maxDistance given twice', 'georel')
        maxDistance = d
      } else {
        if (minDistance !== undefined) throw fail('georel: minDistance given twice', 'georel')
        minDistance = d
      }
    }
    relation = 'near'
  } else if (parts.length === 1 && (SIMPLE_GEORELS as readonly string[]).includes(parts[0])) {
    relation = parts[0] as GeoRelation
  } else {
    throw fail(`georel: expected one of ${GEOREL_FORMS}, got '${georel}'`, 'georel')
  }

  if (typeof geometry !== 'string' || !(QUERY_GEOMETRY_TYPES as readonly string[]).includes(geometry)) {
    throw fail(`geometry: expected one of ${QUERY_GEOMETRY_TYPES.join(', ')}, got ${JSON.stringify(geometry)}`, 'geometry')
  }

  let coords: unknown = coordinates
  if (typeof coordinates === 'string') {
    try {
      coords = JSON.parse(coordinates)
    } catch {
      throw fail(`coordinates: not a JSON array: '${coordinates.length > 80 ? coordinates.slice(0, 80) + '…' : coordinates}'`, 'coordinates')
    }
  }
  if (!Array.isArray(coords)) throw fail('coordinates: expected a JSON array, e.g. [-3.7038,40.4168]', 'coordinates')
  const problem = checkCoordinates(geometry, coords, 'coordinates')
  if (problem !== null) throw fail(problem, 'coordinates')

  if (present(geoproperty) && (typeof geoproperty !== 'string' || geoproperty.trim() === '')) {
    throw fail('geoproperty: expected the name of a GeoProperty', 'geoproperty')
  }

  const query: GeoQuery = { georel: relation, geometry: { type: geometry, coordinates: coords } as Geometry }
  if (maxDistance !== undefined) query.maxDistance = maxDistance
  if (minDistance !== undefined) query.minDistance = minDistance
  if (typeof geoproperty === 'string') query.geoproperty = geoproperty.trim()
  return query
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/** The reference geometry, prepared once per query. */
interface Reference {
  /** without bbox: turf's equality helpers compare bbox members too */
  plain: Geometry
  /** with a bbox member, which turf's point-in-polygon and containment tests use to reject fast */
  boxed: Geometry
  box: BBox
  dim: number
  area: number
  parts: Geometry[]
}

function prepare (geometry: Geometry): Reference {
  const box = bbox(geometry)
  return {
    plain: geometry,
    boxed: { ...geometry, bbox: box },
    box,
    dim: dimension(geometry),
    area: dimension(geometry) === 2 ? area(geometry) : 0,
    parts: parts(geometry)
  }
}

/**
 * Binds the geo-query: the geoproperty is expanded (`location`, `observationSpace` and
 * `operationSpace` are core terms and resolve without `expandTerm`; absent = location).
 */
export function bindGeoQuery (gq: GeoQuery, expandTerm: (term: string) => string): BoundGeoQuery {
  const name = gq.geoproperty
  const geoproperty = name === undefined
    ? LOCATION
    : Object.hasOwn(CORE_GEOPROPERTIES, name) ? CORE_GEOPROPERTIES[name] : expandTerm(name)
  const relation = relationTest(gq, prepare(gq.geometry))
  const matches = (entity: Entity): boolean => {
    const instances = entity.attrs[geoproperty]
    if (!Array.isArray(instances)) return false
    for (const instance of instances) {
      if (instance.type !== 'GeoProperty' || !isGeometry(instance.value)) continue
      try {
        if (relation(instance.value)) return true
      } catch {
        // a geometry turf cannot process (degenerate ring, …) matches nothing rather than failing the query
      }
    }
    return false
  }
  return { query: gq, geoproperty, matches }
}

/** Whether one of the entity's instances of the geoproperty stands in the relation. */
export function evaluateGeo (bound: BoundGeoQuery, entity: Entity): boolean {
  return bound.matches(entity)
}

function isGeometry (value: unknown): value is Geometry {
  if (value === null || typeof value !== 'object') return false
  const g = value as { type?: unknown, coordinates?: unknown, geometries?: unknown }
  return typeof g.type === 'string' && (Array.isArray(g.coordinates) || Array.isArray(g.geometries))
}

function relationTest (gq: GeoQuery, ref: Reference): (g: Geometry) => boolean {
  switch (gq.georel) {
    case 'near': {
      const max = gq.maxDistance
      const min = gq.minDistance
      return g => {
        const d = distanceMetres(g, ref)
        return (max === undefined || d <= max) && (min === undefined || d >= min)
      }
    }
    // the bbox tests are exact necessary conditions, so they only save work
    case 'intersects':
      return g => boxesMeet(bbox(g), ref.box) && booleanIntersects(g, ref.boxed)
    case 'disjoint':
      return g => !boxesMeet(bbox(g), ref.box) || !booleanIntersects(g, ref.boxed)
    case 'within':
      return g => boxInside(bbox(g), ref.box) && contains(ref.boxed, g)
    case 'contains':
      return g => boxInside(ref.box, bbox(g)) && contains(g, ref.boxed)
    case 'equals':
      return g => boxesMeet(bbox(g), ref.box) && equals(g, ref)
    case 'overlaps':
      return g => boxesMeet(bbox(g), ref.box) && overlaps(g, ref)
  }
}

function boxesMeet (a: BBox, b: BBox): boolean {
  return a[0] <= b[2] && b[0] <= a[2] && a[1] <= b[3] && b[1] <= a[3]
}

function boxInside (inner: BBox, outer: BBox): boolean {
  return inner[0] >= outer[0] && inner[1] >= outer[1] && inner[2] <= outer[2] && inner[3] <= outer[3]
}

/** 0 for (multi)points, 1 for (multi)lines, 2 for (multi)polygons; a collection: its largest part. */
function dimension (g: Geometry): number {
  switch (g.type) {
    case 'Point': case 'MultiPoint': return 0
    case 'LineString': case 'MultiLineString': return 1
    case 'Polygon': case 'MultiPolygon': return 2
    case 'GeometryCollection': return g.geometries.reduce((d, c) => Math.max(d, dimension(c)), -1)
  }
}

function isMulti (g: Geometry): boolean {
  return g.type === 'MultiPoint' || g.type === 'MultiLineString' || g.type === 'MultiPolygon' || g.type === 'GeometryCollection'
}

/** The single geometries (Point, LineString, Polygon) a geometry is made of. */
function parts (g: Geometry): Geometry[] {
  if (!isMulti(g)) return [g]
  const out: Geometry[] = []
  flattenEach(g, f => { out.push(f.geometry) })
  return out
}

function withoutBox (g: Geometry): Geometry {
  if (g.bbox === undefined) return g
  const { bbox: _ignored, ...rest } = g
  return rest as Geometry
}

/** Pairs (container type → contained types) that turf's booleanContains implements. */
const TURF_CONTAINS: Readonly<Record<string, ReadonlySet<string>>> = {
  Point: new Set(['Point']),
  MultiPoint: new Set(['Point', 'MultiPoint']),
  LineString: new Set(['Point', 'MultiPoint', 'LineString']),
  Polygon: new Set(['Point', 'MultiPoint', 'LineString', 'Polygon', 'MultiPolygon']),
  MultiPolygon: new Set(['Point', 'MultiPoint', 'LineString', 'MultiLineString', 'Polygon', 'MultiPolygon'])
}

/** Whether `a` contains `b` (b within a). */
function contains (a: Geometry, b: Geometry): boolean {
  if (Object.hasOwn(TURF_CONTAINS, a.type) && TURF_CONTAINS[a.type].has(b.type)) return booleanContains(a, b)
  // a lower-dimensional geometry cannot contain a higher one (a line holds no area)
  if (dimension(a) < dimension(b)) return false
  if (isMulti(b)) {
    const bs = parts(b)
    return bs.length > 0 && bs.every(p => contains(a, p))
  }
  if (isMulti(a)) return parts(a).some(p => contains(p, b))
  return false
}

function equals (g: Geometry, ref: Reference): boolean {
  if (dimension(g) !== ref.dim) return false
  const plain = withoutBox(g)
  if (plain.type === ref.plain.type && booleanEqual(plain, ref.plain)) return true
  return contains(g, ref.boxed) && contains(ref.boxed, g)
}

function overlaps (g: Geometry, ref: Reference): boolean {
  const dim = dimension(g)
  if (dim !== ref.dim) return false
  if (dim === 2) {
    // shared area strictly between nothing and all of either geometry
    const shared = intersect(featureCollection([feature(g as Polygon | MultiPolygon), feature(ref.plain as Polygon | MultiPolygon)]))
    if (shared === null) return false
    const s = area(shared)
    const own = area(g)
    const eps = 1e-6 * Math.min(own, ref.area)
    return s > eps && s < own - eps && s < ref.area - eps
  }
  if (dim === 1) return shareStretch(g, ref.plain) && !contains(g, ref.boxed) && !contains(ref.boxed, g)
  // a single point shares all of itself or nothing: it can be within or disjoint, never overlap
  if (g.type === 'Point' || ref.plain.type === 'Point') return false
  return booleanOverlap(withoutBox(g), ref.plain) && !contains(g, ref.boxed) && !contains(ref.boxed, g)
}

/**
 * Whether two (multi)lines share a stretch (not just points). turf's lineOverlap only sees a
 * segment that lies wholly on the other line, so a partly shared segment (A–C against B–D on one
 * straight line) is missed; inserting each line's vertices that lie on the other line first makes
 * every shared stretch start and end at vertices of both.
 */
function shareStretch (a: Geometry, b: Geometry): boolean {
  const lines = (g: Geometry): Position[][] => parts(g).filter(p => p.type === 'LineString').map(p => (p as LineString).coordinates)
  for (const la of lines(a)) {
    for (const lb of lines(b)) {
      if (lineOverlap(lineString(withVerticesOf(la, lb)), lineString(withVerticesOf(lb, la))).features.length > 0) return true
    }
  }
  return false
}

/** `line` with the vertices of `other` that lie inside its segments inserted in order. */
function withVerticesOf (line: Position[], other: Position[]): Position[] {
  const out: Position[] = [line[0]]
  for (let i = 1; i < line.length; i++) {
    const start = line[i - 1]
    const segment: LineString = { type: 'LineString', coordinates: [start, line[i]] }
    const along = (p: Position): number => (p[0] - start[0]) ** 2 + (p[1] - start[1]) ** 2
    const inside = other.filter(p => booleanPointOnLine(p, segment, { ignoreEndVertices: true }))
    out.push(...inside.sort((p, q) => along(p) - along(q)), line[i])
  }
  return out
}

/** Geodesic distance in metres between the nearest points of an entity geometry and the reference. */
function distanceMetres (g: Geometry, ref: Reference): number {
  // the common case, a point against a point, without decomposing anything
  if (g.type === 'Point' && ref.plain.type === 'Point') return distance(g.coordinates, ref.plain.coordinates, { units: 'meters' })
  let best = Infinity
  for (const a of parts(g)) {
    for (const b of ref.parts) {
      best = Math.min(best, partDistance(a, b))
      if (best === 0) return 0
    }
  }
  return best
}

function partDistance (a: Geometry, b: Geometry): number {
  if (a.type === 'Point') return pointDistance(a.coordinates, b)
  if (b.type === 'Point') return pointDistance(b.coordinates, a)
  if (booleanIntersects(a, b)) return 0
  // two lines/polygons that do not meet: the nearest pair of points has a vertex on one side
  let best = Infinity
  for (const p of coordAll(a)) best = Math.min(best, pointDistance(p, b))
  for (const p of coordAll(b)) best = Math.min(best, pointDistance(p, a))
  return best
}

function pointDistance (p: Position, g: Geometry): number {
  switch (g.type) {
    case 'Point': return distance(p, (g as Point).coordinates, { units: 'meters' })
    case 'LineString': return pointToLineDistance(p, g as LineString, { units: 'meters' })
    // negative inside the polygon: the distance to "the polygon" is then 0
    case 'Polygon': return Math.max(0, pointToPolygonDistance(p, g as Polygon, { units: 'meters' }))
    default: return Math.min(...parts(g).map(part => pointDistance(p, part)))
  }
}

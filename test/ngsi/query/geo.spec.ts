import { strict as assert } from 'node:assert'
import { bindGeoQuery, evaluateGeo, parseGeoQuery, validateGeometry } from '../../../src/ngsi/query/index.ts'
import type { GeoQueryParams } from '../../../src/ngsi/query/index.ts'
import { DEFAULT_VOCAB, LOCATION, OBSERVATION_SPACE } from '../../../src/ngsi/types.ts'
import type { Entity } from '../../../src/ngsi/types.ts'
import { entity, errorOf, expandTerm, geo, prop } from './fixtures.ts'

const MADRID = [-3.7038, 40.4168]
const BARCELONA = [2.1734, 41.3851]
const VALENCIA = [-0.3763, 39.4699]
const PARIS = [2.3522, 48.8566]
const LISBON = [-9.1393, 38.7223]
const PORTO = [-8.6291, 41.1579]
/** due east of Madrid along its parallel, to the longitude of Valencia */
const ROAD_END = [-0.3763, 40.4168]

const square = (w: number, s: number, e: number, n: number): number[][][] => [[[w, s], [e, s], [e, n], [w, n], [w, s]]]
const REGION = square(-4.6, 39.9, -3.0, 41.2) // around Madrid
const MALLORCA = square(2.3, 39.2, 3.5, 40.0)
const IBIZA = square(1.1, 38.6, 1.7, 39.2)
const PORTUGAL = square(-10, 38, -8, 42)
const AROUND_PARIS = square(2, 48, 3, 49)

const at = (type: string, coordinates: unknown): { type: string, coordinates: unknown } => ({ type, coordinates })

const ENTITIES: Entity[] = [
  entity('madrid', 'City', { location: geo(at('Point', MADRID)) }),
  entity('barcelona', 'City', { location: geo(at('Point', BARCELONA)) }),
  entity('paris', 'City', { location: geo(at('Point', PARIS)) }),
  entity('road', 'Road', { location: geo(at('LineString', [MADRID, ROAD_END])) }),
  entity('region', 'Region', { location: geo(at('Polygon', REGION)) }),
  entity('islands', 'Region', { location: geo(at('MultiPolygon', [MALLORCA, IBIZA])) }),
  entity('pair', 'Pair', { location: geo(at('MultiPoint', [MADRID, PARIS])) }),
  entity('lines', 'Lines', { location: geo(at('MultiLineString', [[MADRID, BARCELONA], [LISBON, PORTO]])) }),
  // two instances (datasetIds): any of them may match
  entity('twoSites', 'Company', {
    location: [geo(at('Point', LISBON), { datasetId: 'urn:ds:a' }), geo(at('Point', VALENCIA), { datasetId: 'urn:ds:b' })]
  }),
  entity('nowhere', 'Thing', { name: prop('no geometry at all') }),
  entity('elsewhere', 'Thing', { observationSpace: geo(at('Point', MADRID)) }),
  // not a GeoProperty: never matches a geo-query
  entity('fake', 'Thing', { location: prop(at('Point', MADRID)) })
]

type Case = [string, string, unknown, string[]]

const c = (coords: unknown): string => JSON.stringify(coords)

const cases: Case[] = [
  // near: geodesic distances in metres (Madrid–Barcelona 505 km, –Valencia 303 km, –Lisbon 502 km, –Paris 1053 km)
  ['near;maxDistance==510000', 'Point', c(MADRID), ['madrid', 'barcelona', 'road', 'region', 'islands', 'pair', 'lines', 'twoSites']],
  ['near;maxDistance==500000', 'Point', c(MADRID), ['madrid', 'road', 'region', 'islands', 'pair', 'lines', 'twoSites']],
  ['near;maxDistance==300000', 'Point', c(MADRID), ['madrid', 'road', 'region', 'pair', 'lines']],
  ['near;minDistance==1000000', 'Point', c(MADRID), ['paris']],
  // both bounds: between 400 and 600 km (Ibiza is 432 km away, the Lisbon instance 502 km)
  ['near;minDistance==400000;maxDistance==600000', 'Point', c(MADRID), ['barcelona', 'islands', 'twoSites']],
  ['near;maxDistance==1000', 'Point', c(BARCELONA), ['barcelona', 'lines']],
  // a point 0.09° north of the road: 10 km from the parallel but 8.7 km from the great-circle segment
  ['near;maxDistance==9000', 'Point', c([-2.0, 40.5068]), ['road']],
  ['near;maxDistance==8000', 'Point', c([-2.0, 40.5068]), []],
  // inside a polygon the distance is 0
  ['near;maxDistance==1', 'Point', c([-4.0, 40.8]), ['region']],
  // distance from a query polygon around Valencia: the road ends 80 km north of it
  ['near;maxDistance==100000', 'Polygon', c(square(-0.6, 39.3, -0.2, 39.7)), ['road', 'twoSites']],
  ['near;maxDistance==1000', 'MultiPoint', c([PARIS, LISBON]), ['paris', 'pair', 'lines', 'twoSites']],
  ['near;maxDistance==1000', 'LineString', c([[-2.0, 40], [-2.0, 41]]), ['road', 'lines']],

  // within: the entity inside the query geometry
  ['within', 'Polygon', c(square(-7, 36, 4.5, 43.8)), ['madrid', 'barcelona', 'road', 'region', 'islands', 'twoSites']],
  ['within', 'MultiPolygon', c([REGION, AROUND_PARIS]), ['madrid', 'paris', 'region', 'pair']],
  ['within', 'Point', c(MADRID), ['madrid']],
  // Madrid is an end point of this line, i.e. on its boundary: not within
  ['within', 'LineString', c([MADRID, [1.0, 40.4168]]), ['road']],
  ['within', 'MultiLineString', c([[MADRID, [1.0, 40.4168]], [PARIS, [3, 49]]]), ['road']],
  ['within', 'MultiPoint', c([MADRID, PARIS, LISBON]), ['madrid', 'paris', 'pair', 'twoSites']],

  // contains: the entity contains the query geometry
  ['contains', 'Point', c(MADRID), ['madrid', 'region', 'pair']],
  ['contains', 'Point', c([-2.0, 40.4168]), ['road']],
  ['contains', 'Polygon', c(square(-4.0, 40.0, -3.5, 40.5)), ['region']],
  ['contains', 'MultiPoint', c([MADRID, [-4.0, 40.8]]), ['region']],
  ['contains', 'MultiPoint', c([MADRID, PARIS]), ['pair']],
  ['contains', 'MultiLineString', c([[[-4.5, 40], [-4, 40.5]], [[-3.5, 40], [-3.2, 40.3]]]), ['region']],
  ['contains', 'LineString', c([[2.5, 39.5], [3.0, 39.6]]), ['islands']],
  ['contains', 'LineString', c([[-3, 40.4168], [-1, 40.4168]]), ['road']],
  ['contains', 'MultiPolygon', c([square(2.5, 39.4, 3.0, 39.8), square(1.2, 38.7, 1.5, 39.0)]), ['islands']],

  // intersects / disjoint
  // the Madrid–Barcelona line crosses latitude 40.5 at longitude -3.2
  ['intersects', 'LineString', c([[-5, 40.5], [-2, 40.5]]), ['region', 'lines']],
  ['intersects', 'LineString', c([[-5, 40.3], [-2, 40.3]]), ['region']],
  ['intersects', 'LineString', c([[-2.0, 40], [-2.0, 41]]), ['road', 'lines']],
  ['intersects', 'Polygon', c(PORTUGAL), ['lines', 'twoSites']],
  ['intersects', 'MultiPolygon', c([PORTUGAL, AROUND_PARIS]), ['paris', 'pair', 'lines', 'twoSites']],
  ['intersects', 'MultiLineString', c([[[-5, 40.3], [-2, 40.3]], [[2, 48.8566], [3, 48.8566]]]), ['paris', 'region', 'pair']],
  ['intersects', 'Point', c(MADRID), ['madrid', 'road', 'region', 'pair', 'lines']],
  // twoSites matches through its Valencia instance: any instance may satisfy the relation
  ['disjoint', 'Polygon', c(PORTUGAL), ['madrid', 'barcelona', 'paris', 'road', 'region', 'islands', 'pair', 'twoSites']],
  ['disjoint', 'MultiPolygon', c([PORTUGAL, AROUND_PARIS]), ['madrid', 'barcelona', 'road', 'region', 'islands', 'twoSites']],
  ['disjoint', 'Polygon', c(square(-10, 38, 0, 42)), ['barcelona', 'paris', 'islands']],
  ['disjoint', 'Point', c(MADRID), ['barcelona', 'paris', 'islands', 'twoSites']],

  // equals: the same point set, however it is written
  ['equals', 'Point', c(MADRID), ['madrid']],
  ['equals', 'Polygon', c([[[-3.0, 39.9], [-3.0, 41.2], [-4.6, 41.2], [-4.6, 39.9], [-3.0, 39.9]]]), ['region']],
  ['equals', 'LineString', c([ROAD_END, MADRID]), ['road']],
  ['equals', 'MultiPoint', c([PARIS, MADRID]), ['pair']],
  ['equals', 'MultiPolygon', c([IBIZA, MALLORCA]), ['islands']],
  ['equals', 'MultiLineString', c([[LISBON, PORTO], [MADRID, BARCELONA]]), ['lines']],

  // overlaps: same dimension, partly shared, neither inside the other
  ['overlaps', 'Polygon', c(square(-3.5, 40.5, -2.0, 41.5)), ['region']],
  ['overlaps', 'Polygon', c(square(-5, 39, -2, 42)), []],
  ['overlaps', 'Polygon', c(REGION), []],
  ['overlaps', 'MultiPolygon', c([square(3.0, 39.5, 4.0, 40.5), AROUND_PARIS]), ['islands']],
  ['overlaps', 'LineString', c([[-2.0, 40.4168], [1.0, 40.4168]]), ['road']],
  ['overlaps', 'LineString', c([[-2.0, 40], [-2.0, 41]]), []],
  ['overlaps', 'LineString', c([[-3, 40.4168], [-1, 40.4168]]), []],
  ['overlaps', 'MultiLineString', c([[[-9, 40], [-8, 41]], [[-1.0, 40.4168], [0, 40.4168]]]), ['road']],
  ['overlaps', 'MultiPoint', c([MADRID, LISBON]), ['pair']],
  ['overlaps', 'Point', c(MADRID), []]
]

describe('geo-queries', () => {
  describe('evaluation', () => {
    for (const [georel, geometry, coordinates, expected] of cases) {
      it(`${georel} ${geometry} ${String(coordinates)}  →  ${expected.join(' ') || 'none'}`, () => {
        const gq = parseGeoQuery({ georel, geometry, coordinates })
        assert.ok(gq !== null)
        const bound = bindGeoQuery(gq, expandTerm)
        assert.deepEqual(ENTITIES.filter(e => evaluateGeo(bound, e)).map(e => e.id), expected)
      })
    }

    it('uses the geoproperty named in the query', () => {
      const gq = parseGeoQuery({ georel: 'near;maxDistance==1000', geometry: 'Point', coordinates: c(MADRID), geoproperty: 'observationSpace' })
      assert.ok(gq !== null)
      const bound = bindGeoQuery(gq, expandTerm)
      assert.equal(bound.geoproperty, OBSERVATION_SPACE)
      assert.deepEqual(ENTITIES.filter(e => evaluateGeo(bound, e)).map(e => e.id), ['elsewhere'])
    })

    it('defaults the geoproperty to location and expands other names', () => {
      const gq = parseGeoQuery({ georel: 'within', geometry: 'Point', coordinates: c(MADRID) })
      assert.ok(gq !== null)
      assert.equal(bindGeoQuery(gq, expandTerm).geoproperty, LOCATION)
      assert.equal(bindGeoQuery({ ...gq, geoproperty: 'location' }, t => 'wrong:' + t).geoproperty, LOCATION)
      assert.equal(bindGeoQuery({ ...gq, geoproperty: 'entrance' }, expandTerm).geoproperty, DEFAULT_VOCAB + 'entrance')
    })

    it('accepts coordinates as an array (POST bodies) and trims the georel', () => {
      const gq = parseGeoQuery({ georel: ' near ; maxDistance==2000 ', geometry: 'Point', coordinates: MADRID }, { source: 'body' })
      assert.deepEqual(gq, { georel: 'near', maxDistance: 2000, geometry: { type: 'Point', coordinates: MADRID } })
    })

    it('is null without a geo-query, even with a geoproperty', () => {
      assert.equal(parseGeoQuery({}), null)
      assert.equal(parseGeoQuery({ geoproperty: 'location' }), null)
    })

    it('ignores geometries turf cannot process instead of failing the query', () => {
      const broken = entity('broken', 'Thing', { location: geo({ type: 'Circle', coordinates: [0, 0] }) })
      const gq = parseGeoQuery({ georel: 'within', geometry: 'Polygon', coordinates: c(square(-1, -1, 2, 2)) })
      assert.ok(gq !== null)
      assert.equal(evaluateGeo(bindGeoQuery(gq, expandTerm), broken), false)
    })
  })

  describe('invalid parameters', () => {
    const P = (georel: string | undefined, geometry: string | undefined, coordinates: unknown): GeoQueryParams => ({ georel, geometry, coordinates })
    const invalid: Array<[string, GeoQueryParams, string]> = [
      ['coordinates missing', P('near;maxDistance==1000', 'Point', undefined), 'coordinates: missing'],
      ['georel missing', P(undefined, 'Point', '[1,2]'), 'georel: missing'],
      ['geometry and coordinates missing', P('within', undefined, undefined), 'geometry, coordinates: missing'],
      ['an unknown georel', P('nearby', 'Point', '[1,2]'), "georel: expected one of near;maxDistance==<metres>"],
      ['near without a distance', P('near', 'Point', '[1,2]'), 'georel: near needs maxDistance'],
      ['a single = in near', P('near;maxDistance=1000', 'Point', '[1,2]'), "got 'maxDistance=1000'"],
      ['a negative distance', P('near;maxDistance==-5', 'Point', '[1,2]'), "got 'maxDistance==-5'"],
      ['maxDistance twice', P('near;maxDistance==5;maxDistance==6', 'Point', '[1,2]'), 'maxDistance given twice'],
      ['a distance with within', P('within;maxDistance==5', 'Point', '[1,2]'), 'georel: expected one of'],
      ['an unknown geometry', P('within', 'Circle', '[1,2]'), 'geometry: expected one of Point, MultiPoint'],
      ['a lowercase geometry', P('within', 'point', '[1,2]'), 'geometry: expected one of'],
      ['coordinates that are not JSON', P('within', 'Point', '[1,2'), 'coordinates: not a JSON array'],
      ['coordinates that are not an array', P('within', 'Point', '{"a":1}'), 'coordinates: expected a JSON array'],
      ['a longitude out of range', P('within', 'Point', '[200,40]'), 'coordinates: longitude 200 is outside [-180, 180]'],
      ['a latitude out of range', P('within', 'Point', '[10,95]'), 'coordinates: latitude 95 is outside [-90, 90]'],
      ['a position with a string', P('within', 'Point', '["a",1]'), 'coordinates: expected a position'],
      ['a position with 4 numbers', P('within', 'Point', '[1,2,3,4]'), 'coordinates: expected a position'],
      ['a Point given a list', P('within', 'Point', '[[1,2]]'), 'coordinates: expected a position'],
      ['a LineString of one position', P('intersects', 'LineString', '[[1,2]]'), 'coordinates: expected at least 2 positions'],
      ['an empty MultiPoint', P('intersects', 'MultiPoint', '[]'), 'coordinates: expected at least 1 position'],
      ['a ring of 3 positions', P('within', 'Polygon', '[[[0,0],[1,0],[0,0]]]'), 'coordinates[0]: expected at least 4 positions'],
      ['an open ring', P('within', 'Polygon', '[[[0,0],[1,0],[1,1],[0,1]]]'), 'coordinates[0]: the linear ring is not closed'],
      ['an open ring in a MultiPolygon', P('within', 'MultiPolygon', c([REGION, [[[0, 0], [1, 0], [1, 1], [0, 1]]]])), 'coordinates[1][0]: the linear ring is not closed'],
      ['a bad position deep inside', P('within', 'MultiPolygon', c([[[[0, 0], [1, 0], [1, 91], [0, 0]]]])), 'coordinates[0][0][2]: latitude 91'],
      ['an empty geoproperty', { georel: 'within', geometry: 'Point', coordinates: '[1,2]', geoproperty: ' ' }, 'geoproperty: expected the name']
    ]
    for (const [what, params, expected] of invalid) {
      it(`rejects ${what}`, () => {
        const message = errorOf(() => parseGeoQuery(params), 'NGSI_INVALID_REQUEST')
        assert.ok(message.includes(expected), `expected "${expected}", got: ${message}`)
        assert.match(message, /^(georel|geometry|coordinates|geoproperty)[[:,]/)
      })
    }

    it('answers BadRequestData naming geoQ.<member> for a request body', () => {
      const message = errorOf(() => parseGeoQuery(P('within', 'Polygon', [[[0, 0], [1, 0], [1, 1], [0, 1]]]), { source: 'body' }), 'NGSI_BAD_REQUEST_DATA')
      assert.ok(message.startsWith('geoQ.coordinates[0]: the linear ring is not closed'), message)
      const missing = errorOf(() => parseGeoQuery(P('within', 'Point', undefined), { source: 'body' }), 'NGSI_BAD_REQUEST_DATA')
      assert.ok(missing.startsWith('geoQ.coordinates: missing'), missing)
    })
  })

  describe('validateGeometry', () => {
    const valid: unknown[] = [
      { type: 'Point', coordinates: MADRID },
      { type: 'Point', coordinates: [-3.7, 40.4, 650] },
      { type: 'MultiPoint', coordinates: [MADRID, PARIS] },
      { type: 'LineString', coordinates: [MADRID, ROAD_END] },
      { type: 'MultiLineString', coordinates: [[MADRID, BARCELONA], [LISBON, PORTO]] },
      { type: 'Polygon', coordinates: [...REGION, [[-4, 40], [-3.5, 40], [-3.5, 40.5], [-4, 40]]] },
      { type: 'MultiPolygon', coordinates: [MALLORCA, IBIZA] },
      { type: 'GeometryCollection', geometries: [{ type: 'Point', coordinates: MADRID }, { type: 'Polygon', coordinates: REGION }] }
    ]
    for (const g of valid) {
      it(`accepts a ${(g as { type: string }).type}`, () => {
        assert.equal(validateGeometry(g), null)
      })
    }

    const invalid: Array<[unknown, string]> = [
      [null, 'value: a geometry must be a JSON object'],
      [[1, 2], 'value: a geometry must be a JSON object'],
      [{ coordinates: [1, 2] }, 'type: expected one of Point'],
      [{ type: 'Circle', coordinates: [1, 2] }, 'type: expected one of Point'],
      [{ type: 'Point' }, 'coordinates: missing'],
      [{ type: 'Point', coordinates: [181, 0] }, 'coordinates: longitude 181 is outside [-180, 180]'],
      [{ type: 'LineString', coordinates: [[0, 0], [1, Number.NaN]] }, 'coordinates[1]: expected a position'],
      [{ type: 'Polygon', coordinates: [[[0, 0], [1, 0], [1, 1], [0, 1]]] }, 'coordinates[0]: the linear ring is not closed'],
      [{ type: 'Polygon', coordinates: [] }, 'coordinates: expected at least 1 linear ring'],
      [{ type: 'GeometryCollection', geometries: [{ type: 'Point', coordinates: [0, 100] }] }, 'geometries[0].coordinates: latitude 100'],
      [{ type: 'GeometryCollection', geometries: [{ type: 'GeometryCollection', geometries: [] }] }, 'geometries[0].type: nested GeometryCollections'],
      [{ type: 'GeometryCollection' }, 'geometries: expected an array']
    ]
    for (const [g, expected] of invalid) {
      it(`explains ${JSON.stringify(g)}`, () => {
        const reason = validateGeometry(g)
        assert.ok(reason?.startsWith(expected), `expected "${expected}…", got: ${String(reason)}`)
      })
    }
  })

  it('evaluates 100,000 point entities against near and within quickly', () => {
    const points = Array.from({ length: 1000 }, (_, i) => entity(`p${i}`, 'P', { location: geo(at('Point', [-10 + (i % 40) * 0.5, 36 + Math.floor(i / 40) * 0.3])) }))
    for (const [georel, geometry, coordinates] of [['near;maxDistance==300000', 'Point', c(MADRID)], ['within', 'Polygon', c(square(-7, 36, 4.5, 43.8))]]) {
      const gq = parseGeoQuery({ georel, geometry, coordinates })
      assert.ok(gq !== null)
      const bound = bindGeoQuery(gq, expandTerm)
      const start = performance.now()
      let n = 0
      for (let i = 0; i < 100_000; i++) if (evaluateGeo(bound, points[i % 1000])) n++
      const ms = performance.now() - start
      assert.ok(n > 0 && n < 100_000, `${georel}: ${n} matches`)
      assert.ok(ms < 3000, `${georel} took ${ms.toFixed(0)} ms`)
    }
  })
})

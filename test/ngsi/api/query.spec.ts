import { strict as assert } from 'node:assert'
import type { ContinuumNode } from '../../../src/node.ts'
import { cleanup, nodeFor, prepareDomain } from '../../helpers/index.ts'
import { client, ETSI, type Answer, type CallOptions } from './client.ts'

const P = '/ngsi-ld/v1'

interface Case { name: string, method?: string, path: string, opts?: CallOptions, status: number, problem?: string, check?: (a: Answer) => void }

const ids = (a: Answer): string[] => (a.json as Array<{ id: string }>).map(e => e.id)

/**
 * Queries (GET and POST), batch operations and discovery on one node, seeded with 60 entities of
 * three types. The q grammar and geo relations are covered in depth by test/ngsi/query; here each
 * feature is checked through the API, with its error cases.
 */
describe('NGSI-LD API: queries, batches, discovery', function () {
  this.timeout(60_000)
  let node: ContinuumNode
  let call: ReturnType<typeof client>

  before(async () => {
    const d = await prepareDomain('ngsi-query')
    node = nodeFor(d, { members: [], config: { api: { host: '127.0.0.1', port: d.apiPort, bodyLimit: 1024 * 1024 }, ngsi: { maxLimit: 50 } } as never })
    await node.start()
    call = client(node.apiUrl)
    const entities = Array.from({ length: 60 }, (_, i) => ({
      id: `urn:ngsi-ld:${['Vehicle', 'Sensor', 'Building'][i % 3]}:${String(i).padStart(3, '0')}`,
      type: ['Vehicle', 'Sensor', 'Building'][i % 3],
      speed: { type: 'Property', value: i, unitCode: 'KMH' },
      brand: { type: 'Property', value: i % 2 === 0 ? 'Seat' : 'Renault' },
      ...(i % 5 === 0 ? { isParked: { type: 'Relationship', object: `urn:ngsi-ld:Parking:${i % 2}` } } : {}),
      // On a line eastwards from Madrid (-3.70, 40.42): every 0.1° ≈ 8.5 km.
      location: { type: 'GeoProperty', value: { type: 'Point', coordinates: [-3.70 + i / 10, 40.42] } }
    }))
    const a = await call('POST', `${P}/entityOperations/upsert`, { body: entities })
    assert.equal(a.status, 201, a.text)
    assert.equal(a.json.length, 60)
  })

  after(cleanup)

  const cases: Case[] = [
    { name: 'by type', path: '/entities?type=Vehicle&limit=50', status: 200, check: a => { assert.equal(a.json.length, 20); assert.ok(ids(a).every(i => i.includes(':Vehicle:'))) } },
    { name: 'results come in id order', path: '/entities?type=Vehicle,Sensor&limit=5', status: 200, check: a => assert.deepEqual(ids(a), ['urn:ngsi-ld:Sensor:001', 'urn:ngsi-ld:Sensor:004', 'urn:ngsi-ld:Sensor:007', 'urn:ngsi-ld:Sensor:010', 'urn:ngsi-ld:Sensor:013']) },
    { name: 'type AND within one entity matches nothing here', path: '/entities?type=Vehicle;Sensor', status: 200, check: a => assert.deepEqual(a.json, []) },
    { name: 'q comparison and AND', path: '/entities?type=Vehicle&q=speed>50;brand=="Seat"', status: 200, check: a => assert.deepEqual(ids(a), ['urn:ngsi-ld:Vehicle:054']) },
    { name: 'q range', path: '/entities?q=speed==10..12', status: 200, check: a => assert.deepEqual(ids(a), ['urn:ngsi-ld:Building:011', 'urn:ngsi-ld:Sensor:010', 'urn:ngsi-ld:Vehicle:012']) },
    { name: 'q OR with grouping', path: '/entities?q=(speed<2|speed>58);brand=="Seat"', status: 200, check: a => assert.deepEqual(ids(a), ['urn:ngsi-ld:Vehicle:000']) },
    { name: 'q relationship object', path: '/entities?q=isParked=="urn:ngsi-ld:Parking:1"', status: 200, check: a => assert.deepEqual(ids(a), ['urn:ngsi-ld:Building:005', 'urn:ngsi-ld:Building:035', 'urn:ngsi-ld:Sensor:025', 'urn:ngsi-ld:Sensor:055', 'urn:ngsi-ld:Vehicle:015', 'urn:ngsi-ld:Vehicle:045']) },
    { name: 'q sub-attribute', path: '/entities?type=Sensor&q=speed.unitCode=="KMH";speed<5', status: 200, check: a => assert.deepEqual(ids(a), ['urn:ngsi-ld:Sensor:001', 'urn:ngsi-ld:Sensor:004']) },
    { name: 'q pattern', path: '/entities?type=Building&q=brand~="^Ren";speed<10', status: 200, check: a => assert.deepEqual(ids(a), ['urn:ngsi-ld:Building:005']) },
    { name: 'an invalid q is 400 InvalidRequest', path: '/entities?q=speed>>3', status: 400, problem: 'InvalidRequest' },
    { name: 'idPattern', path: '/entities?idPattern=^urn:ngsi-ld:Sensor:00', status: 200, check: a => assert.deepEqual(ids(a), ['urn:ngsi-ld:Sensor:001', 'urn:ngsi-ld:Sensor:004', 'urn:ngsi-ld:Sensor:007']) },
    { name: 'an invalid idPattern is 400', path: '/entities?idPattern=(', status: 400, problem: 'InvalidRequest' },
    { name: 'id list', path: '/entities?id=urn:ngsi-ld:Vehicle:003,urn:ngsi-ld:Sensor:001,urn:ngsi-ld:X:1', status: 200, check: a => assert.deepEqual(ids(a), ['urn:ngsi-ld:Sensor:001', 'urn:ngsi-ld:Vehicle:003']) },
    { name: 'attrs selects and projects', path: '/entities?attrs=isParked&type=Vehicle&options=keyValues', status: 200, check: a => {
      assert.deepEqual(ids(a), ['urn:ngsi-ld:Vehicle:000', 'urn:ngsi-ld:Vehicle:015', 'urn:ngsi-ld:Vehicle:030', 'urn:ngsi-ld:Vehicle:045'])
      assert.deepEqual(Object.keys(a.json[0]), ['id', 'type', 'isParked'])
    } },
    { name: 'geo near;maxDistance', path: `/entities?type=Vehicle&georel=near;maxDistance==30000&geometry=Point&coordinates=${encodeURIComponent('[-3.70,40.42]')}`, status: 200, check: a => assert.deepEqual(ids(a), ['urn:ngsi-ld:Vehicle:000', 'urn:ngsi-ld:Vehicle:003']) },
    { name: 'geo within a polygon', path: `/entities?type=Sensor&georel=within&geometry=Polygon&coordinates=${encodeURIComponent('[[[-3.0,40.0],[-2.0,40.0],[-2.0,41.0],[-3.0,41.0],[-3.0,40.0]]]')}`, status: 200, check: a => assert.deepEqual(ids(a), ['urn:ngsi-ld:Sensor:010', 'urn:ngsi-ld:Sensor:013', 'urn:ngsi-ld:Sensor:016']) },
    { name: 'geo with bad coordinates is 400', path: '/entities?type=Sensor&georel=within&geometry=Polygon&coordinates=[1,2', status: 400, problem: 'InvalidRequest' },
    { name: 'geo with an unknown georel is 400', path: `/entities?type=Sensor&georel=around&geometry=Point&coordinates=${encodeURIComponent('[1,2]')}`, status: 400 },
    { name: 'count=true gives NGSILD-Results-Count', path: '/entities?type=Building&count=true&limit=3', status: 200, check: a => {
      assert.equal(a.headers.get('ngsild-results-count'), '20')
      assert.equal(a.json.length, 3)
    } },
    { name: 'limit=0 with count only counts', path: '/entities?type=Building&count=true&limit=0', status: 200, check: a => { assert.equal(a.headers.get('ngsild-results-count'), '20'); assert.deepEqual(a.json, []) } },
    { name: 'limit=0 without count is 400', path: '/entities?type=Building&limit=0', status: 400, problem: 'BadRequestData' },
    { name: 'offset pages through with prev and next links', path: '/entities?type=Building&limit=5&offset=5', status: 200, check: a => {
      assert.deepEqual(ids(a), ['urn:ngsi-ld:Building:017', 'urn:ngsi-ld:Building:020', 'urn:ngsi-ld:Building:023', 'urn:ngsi-ld:Building:026', 'urn:ngsi-ld:Building:029'])
      const link = a.headers.get('link') ?? ''
      assert.match(link, /<\/ngsi-ld\/v1\/entities\?type=Building&limit=5&offset=0>; rel="prev"/)
      assert.match(link, /<\/ngsi-ld\/v1\/entities\?type=Building&limit=5&offset=10>; rel="next"/)
    } },
    { name: 'a limit over the maximum is 403 TooManyResults', path: '/entities?type=Building&limit=51', status: 403, problem: 'TooManyResults' },
    { name: 'a query without any selection is 400', path: '/entities', status: 400, problem: 'BadRequestData' },
    { name: 'a query with an unknown parameter is 400', path: '/entities?type=Building&sort=asc', status: 400, problem: 'InvalidRequest' },
    { name: 'geo+json gives a FeatureCollection', path: '/entities?type=Vehicle&limit=2&options=keyValues', opts: { headers: { accept: 'application/geo+json' } }, status: 200, check: a => {
      assert.equal(a.json.type, 'FeatureCollection')
      assert.equal(a.json.features.length, 2)
      assert.deepEqual(a.json.features[0].geometry, { type: 'Point', coordinates: [-3.7, 40.42] })
    } },

    // POST query
    { name: 'POST query: selectors are ORed, q ANDed', method: 'POST', path: '/entityOperations/query?limit=10', opts: { body: { type: 'Query', entities: [{ type: 'Vehicle' }, { id: 'urn:ngsi-ld:Sensor:001', type: 'Sensor' }], q: 'speed<4' } }, status: 200, check: a => assert.deepEqual(ids(a), ['urn:ngsi-ld:Sensor:001', 'urn:ngsi-ld:Vehicle:000', 'urn:ngsi-ld:Vehicle:003']) },
    { name: 'POST query with geoQ and count', method: 'POST', path: '/entityOperations/query?count=true', opts: { body: { type: 'Query', entities: [{ type: 'Building' }], geoQ: { georel: 'near;maxDistance==20000', geometry: 'Point', coordinates: [-3.6, 40.42] } } }, status: 200, check: a => {
      assert.equal(a.headers.get('ngsild-results-count'), '1')
      assert.deepEqual(ids(a), ['urn:ngsi-ld:Building:002'])
    } },
    { name: 'POST query with a bad geoQ is BadRequestData naming geoQ', method: 'POST', path: '/entityOperations/query', opts: { body: { type: 'Query', entities: [{ type: 'Building' }], geoQ: { georel: 'within', geometry: 'Polygon', coordinates: [[1, 2]] } } }, status: 400, problem: 'BadRequestData', check: a => assert.match(a.json.detail, /geoQ/) },
    { name: 'POST query needs type Query', method: 'POST', path: '/entityOperations/query', opts: { body: { entities: [{ type: 'Building' }] } }, status: 400, problem: 'BadRequestData' },

    // Batches
    { name: 'batch create: partial success is 207', method: 'POST', path: '/entityOperations/create', opts: { body: [{ id: 'urn:ngsi-ld:T:1', type: 'T' }, { id: 'urn:ngsi-ld:Vehicle:000', type: 'Vehicle' }, { id: 'bad id', type: 'T' }] }, status: 207, check: a => {
      assert.deepEqual(a.json.success, ['urn:ngsi-ld:T:1'])
      assert.deepEqual(a.json.errors.map((e: { entityId: string, error: { type: string } }) => [e.entityId, e.error.type]), [
        ['bad id', ETSI('BadRequestData')],
        ['urn:ngsi-ld:Vehicle:000', ETSI('AlreadyExists')]
      ])
    } },
    { name: 'batch create: all new is 201 with the ids', method: 'POST', path: '/entityOperations/create', opts: { body: [{ id: 'urn:ngsi-ld:T:2', type: 'T' }, { id: 'urn:ngsi-ld:T:3', type: 'T', a: 1 }] }, status: 201, check: a => assert.deepEqual(a.json, ['urn:ngsi-ld:T:2', 'urn:ngsi-ld:T:3']) },
    { name: 'batch upsert of existing entities is 204', method: 'POST', path: '/entityOperations/upsert', opts: { body: [{ id: 'urn:ngsi-ld:T:2', type: 'T', b: 2 }] }, status: 204 },
    { name: '…upsert replaced T:3 by default', method: 'POST', path: '/entityOperations/upsert?options=update', opts: { body: [{ id: 'urn:ngsi-ld:T:3', type: 'T', c: 3 }] }, status: 204 },
    { name: '…and options=update appended to T:3', path: '/entities/urn:ngsi-ld:T:3?options=keyValues', status: 200, check: a => assert.deepEqual(a.json, { id: 'urn:ngsi-ld:T:3', type: 'T', a: 1, c: 3 }) },
    { name: 'batch update with noOverwrite', method: 'POST', path: '/entityOperations/update?options=noOverwrite', opts: { body: [{ id: 'urn:ngsi-ld:T:3', a: 100, d: 4 }] }, status: 204 },
    { name: '…kept a, added d', path: '/entities/urn:ngsi-ld:T:3?options=keyValues', status: 200, check: a => assert.deepEqual(a.json, { id: 'urn:ngsi-ld:T:3', type: 'T', a: 1, c: 3, d: 4 }) },
    { name: 'batch update of a missing entity is 207', method: 'POST', path: '/entityOperations/update', opts: { body: [{ id: 'urn:ngsi-ld:T:404', a: 1 }] }, status: 207, check: a => assert.equal(a.json.errors[0].error.type, ETSI('ResourceNotFound')) },
    { name: 'batch merge with a deletion', method: 'POST', path: '/entityOperations/merge', opts: { body: [{ id: 'urn:ngsi-ld:T:3', a: 'urn:ngsi-ld:null', e: 5 }] }, status: 204 },
    { name: '…merged', path: '/entities/urn:ngsi-ld:T:3?options=keyValues', status: 200, check: a => assert.deepEqual(a.json, { id: 'urn:ngsi-ld:T:3', type: 'T', c: 3, d: 4, e: 5 }) },
    { name: 'batch delete: missing ids are reported', method: 'POST', path: '/entityOperations/delete', opts: { body: ['urn:ngsi-ld:T:1', 'urn:ngsi-ld:T:404', 42] }, status: 207, check: a => {
      assert.deepEqual(a.json.success, ['urn:ngsi-ld:T:1'])
      assert.equal(a.json.errors.length, 2)
    } },
    { name: 'a batch that is not an array is 400', method: 'POST', path: '/entityOperations/create', opts: { body: { id: 'urn:ngsi-ld:T:9', type: 'T' } }, status: 400, problem: 'BadRequestData' },
    { name: 'an empty batch is 400', method: 'POST', path: '/entityOperations/delete', opts: { body: [] }, status: 400, problem: 'BadRequestData' },

    // Discovery
    { name: 'types', path: '/types', status: 200, check: a => { assert.equal(a.json.type, 'EntityTypeList'); assert.deepEqual(a.json.typeList, ['Building', 'Domain', 'Sensor', 'T', 'Vehicle'], 'Domain: the node\'s own Domain entity') } },
    { name: 'types with details', path: '/types?details=true', status: 200, check: a => {
      const v = a.json.find((t: { typeName: string }) => t.typeName === 'Vehicle')
      assert.deepEqual(v.attributeNames.sort(), ['brand', 'isParked', 'location', 'speed'])
    } },
    { name: 'one type', path: '/types/Vehicle', status: 200, check: a => {
      assert.equal(a.json.type, 'EntityTypeInfo')
      assert.equal(a.json.entityCount, 20)
      assert.deepEqual(a.json.attributeDetails.find((d: { attributeName: string }) => d.attributeName === 'isParked').attributeTypes, ['Relationship'])
    } },
    { name: 'an unknown type is 404', path: '/types/Spaceship', status: 404, problem: 'ResourceNotFound' },
    { name: 'attributes', path: '/attributes', status: 200, check: a => { assert.equal(a.json.type, 'AttributeList'); assert.ok(a.json.attributeList.includes('speed')) } },
    { name: 'one attribute with counts and types', path: '/attributes/isParked', status: 200, check: a => {
      assert.equal(a.json.attributeCount, 12)
      assert.deepEqual(a.json.typeNames, ['Building', 'Sensor', 'Vehicle'])
    } },
    { name: 'an unknown attribute is 404', path: '/attributes/colour', status: 404, problem: 'ResourceNotFound' }
  ]

  for (const c of cases) {
    it(`${c.method ?? 'GET'} ${c.path.split('?')[0]}: ${c.name} → ${c.status}`, async () => {
      const a = await call(c.method ?? 'GET', P + c.path, c.opts)
      assert.equal(a.status, c.status, `body: ${a.text}`)
      if (c.problem != null) assert.equal(a.json?.type, ETSI(c.problem), a.text)
      else if (c.status >= 400) assert.match(a.json?.type ?? '', /^https:\/\/uri\.etsi\.org\/ngsi-ld\/errors\//)
      c.check?.(a)
    })
  }
})

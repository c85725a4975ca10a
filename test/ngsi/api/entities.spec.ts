import { strict as assert } from 'node:assert'
import { createServer, type Server } from 'node:http'
import type { ContinuumNode } from '../../../src/node.ts'
import { cleanup, nodeFor, prepareDomain } from '../../helpers/index.ts'
import { client, ETSI, type Answer, type CallOptions } from './client.ts'

const P = '/ngsi-ld/v1'
const CTX_LINK = (url: string): string => `<${url}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"`

interface Case {
  name: string
  method: string
  path: string
  opts?: CallOptions | (() => CallOptions)
  status: number
  /** ProblemDetails type (for errors) */
  problem?: string
  check?: (a: Answer) => void
}

/**
 * The NGSI-LD entity API of one real node over HTTP, table-driven: each row is one request in
 * order (later rows see what earlier rows wrote) with its expected status, ProblemDetails type
 * and body checks.
 */
describe('NGSI-LD API: entities and attributes', function () {
  this.timeout(60_000)
  let node: ContinuumNode
  let call: ReturnType<typeof client>
  let ctxServer: Server
  let ctxUrl = ''
  let ctxFetches = 0

  before(async () => {
    ctxServer = createServer((req, res) => {
      ctxFetches++
      res.setHeader('content-type', 'application/ld+json')
      res.end(JSON.stringify({ '@context': { ex: 'https://example.org/', Car: 'ex:Car', speed: 'ex:speed', owner: 'ex:owner', brand: 'ex:brand' } }))
    })
    await new Promise<void>(resolve => ctxServer.listen(0, '127.0.0.1', resolve))
    const addr = ctxServer.address()
    ctxUrl = `http://127.0.0.1:${typeof addr === 'object' && addr != null ? addr.port : 0}/ctx.jsonld`
    const d = await prepareDomain('ngsi-api')
    node = nodeFor(d, { members: [], config: { api: { host: '127.0.0.1', port: d.apiPort, bodyLimit: 16 * 1024 } } })
    await node.start()
    call = client(node.apiUrl)
  })

  after(async () => {
    await cleanup()
    ctxServer.close()
  })

  const room = (n: number, extra: Record<string, unknown> = {}) => ({
    id: `urn:ngsi-ld:Room:${n}`,
    type: 'Room',
    temperature: { type: 'Property', value: 20 + n, unitCode: 'CEL', observedAt: '2026-11-01T10:00:00Z' },
    name: { type: 'Property', value: `room ${n}` },
    location: { type: 'GeoProperty', value: { type: 'Point', coordinates: [2.17 + n / 100, 41.38] } },
    ...extra
  })

  const cases: Case[] = [
    // Create
    { name: 'create a normalized entity', method: 'POST', path: '/entities', opts: { body: room(1) }, status: 201, check: a => assert.equal(a.headers.get('location'), `${P}/entities/urn%3Angsi-ld%3ARoom%3A1`) },
    { name: 'create a concise entity', method: 'POST', path: '/entities', opts: { body: { id: 'urn:ngsi-ld:Room:2', type: 'Room', temperature: { value: 22 }, name: 'room 2', isPartOf: { object: 'urn:ngsi-ld:Building:1' } } }, status: 201 },
    { name: 'refuse a duplicate', method: 'POST', path: '/entities', opts: { body: room(1) }, status: 409, problem: 'AlreadyExists' },
    { name: 'refuse an entity without type', method: 'POST', path: '/entities', opts: { body: { id: 'urn:ngsi-ld:X:1' } }, status: 400, problem: 'BadRequestData' },
    { name: 'refuse an id that is not a URI', method: 'POST', path: '/entities', opts: { body: { id: 'room 3', type: 'Room' } }, status: 400, problem: 'BadRequestData' },
    { name: 'refuse a forbidden character in an attribute name', method: 'POST', path: '/entities', opts: { body: { id: 'urn:ngsi-ld:X:2', type: 'X', 'a<b': { value: 1 } } }, status: 400, problem: 'BadRequestData' },
    { name: 'refuse a Relationship without object', method: 'POST', path: '/entities', opts: { body: { id: 'urn:ngsi-ld:X:3', type: 'X', r: { type: 'Relationship', value: 1 } } }, status: 400, problem: 'BadRequestData' },
    { name: 'refuse invalid GeoJSON', method: 'POST', path: '/entities', opts: { body: { id: 'urn:ngsi-ld:X:4', type: 'X', location: { type: 'GeoProperty', value: { type: 'Point', coordinates: [500, 1] } } } }, status: 400, problem: 'BadRequestData' },
    { name: 'refuse malformed JSON', method: 'POST', path: '/entities', opts: { raw: '{"id": "urn:x"', headers: { 'content-type': 'application/json' } }, status: 400, problem: 'InvalidRequest' },
    { name: 'refuse an unsupported content type', method: 'POST', path: '/entities', opts: { raw: 'x', headers: { 'content-type': 'text/plain' } }, status: 415, problem: 'UnsupportedMediaType' },
    { name: 'refuse merge-patch for a create', method: 'POST', path: '/entities', opts: { body: room(9), headers: { 'content-type': 'application/merge-patch+json' } }, status: 415, problem: 'UnsupportedMediaType' },
    { name: 'refuse JSON-LD without @context', method: 'POST', path: '/entities', opts: { body: room(3), headers: { 'content-type': 'application/ld+json' } }, status: 400, problem: 'BadRequestData' },
    { name: 'refuse JSON-LD with a Link header', method: 'POST', path: '/entities', opts: () => ({ body: { ...room(3), '@context': ctxUrl }, headers: { 'content-type': 'application/ld+json', link: CTX_LINK(ctxUrl) } }), status: 400, problem: 'BadRequestData' },
    { name: 'refuse an @context in a JSON body', method: 'POST', path: '/entities', opts: () => ({ body: { ...room(3), '@context': ctxUrl } }), status: 400, problem: 'BadRequestData' },
    { name: 'refuse a body over the limit (413), writing nothing', method: 'POST', path: '/entities', opts: { body: room(4, { blob: { value: 'x'.repeat(20_000) } }) }, status: 413, problem: 'InvalidRequest' },
    { name: '…the too large entity was not written', method: 'GET', path: '/entities/urn:ngsi-ld:Room:4', status: 404, problem: 'ResourceNotFound' },
    { name: 'create with application/ld+json and a remote @context', method: 'POST', path: '/entities', opts: () => ({ body: { id: 'urn:ngsi-ld:Car:1', type: 'Car', speed: { value: 80 }, brand: 'Seat', '@context': [ctxUrl] }, headers: { 'content-type': 'application/ld+json' } }), status: 201 },
    { name: 'refuse an unreachable @context with 503 LdContextNotAvailable', method: 'POST', path: '/entities', opts: { body: { id: 'urn:ngsi-ld:Car:9', type: 'Car' }, headers: { link: CTX_LINK('http://127.0.0.1:1/none.jsonld') } }, status: 503, problem: 'LdContextNotAvailable' },

    // Retrieve
    { name: 'retrieve normalized, with the core @context in a Link header', method: 'GET', path: '/entities/urn:ngsi-ld:Room:1', status: 200, check: a => {
      assert.deepEqual(a.json, room(1))
      assert.match(a.headers.get('link') ?? '', /ngsi-ld-core-context/)
      assert.match(a.headers.get('content-type') ?? '', /^application\/json/)
    } },
    { name: 'retrieve keyValues', method: 'GET', path: '/entities/urn:ngsi-ld:Room:1?options=keyValues', status: 200, check: a => assert.deepEqual(a.json, { id: 'urn:ngsi-ld:Room:1', type: 'Room', temperature: 21, name: 'room 1', location: room(1).location.value }) },
    { name: 'retrieve with format=simplified', method: 'GET', path: '/entities/urn:ngsi-ld:Room:1?format=simplified&attrs=name', status: 200, check: a => assert.deepEqual(a.json, { id: 'urn:ngsi-ld:Room:1', type: 'Room', name: 'room 1' }) },
    { name: 'retrieve concise', method: 'GET', path: '/entities/urn:ngsi-ld:Room:2?options=concise', status: 200, check: a => assert.deepEqual(a.json, { id: 'urn:ngsi-ld:Room:2', type: 'Room', temperature: 22, name: 'room 2', isPartOf: { object: 'urn:ngsi-ld:Building:1' } }) },
    { name: 'retrieve with sysAttrs (and the federation members)', method: 'GET', path: '/entities/urn:ngsi-ld:Room:1?options=sysAttrs', status: 200, check: a => {
      assert.match(a.json.createdAt, /^\d{4}-/)
      assert.equal(a.json.ownerDomain, 'ngsi-api')
      assert.equal(a.json.temperature.writerDomain, 'ngsi-api')
      assert.match(a.json.temperature.modifiedAt, /^\d{4}-/)
    } },
    { name: 'retrieve attrs=temperature', method: 'GET', path: '/entities/urn:ngsi-ld:Room:1?attrs=temperature', status: 200, check: a => assert.deepEqual(Object.keys(a.json), ['id', 'type', 'temperature']) },
    { name: 'retrieve pick and omit', method: 'GET', path: '/entities/urn:ngsi-ld:Room:1?pick=id,name', status: 200, check: a => assert.deepEqual(a.json, { id: 'urn:ngsi-ld:Room:1', name: { type: 'Property', value: 'room 1' } }) },
    { name: 'retrieve omit', method: 'GET', path: '/entities/urn:ngsi-ld:Room:1?omit=location,temperature,type', status: 200, check: a => assert.deepEqual(a.json, { id: 'urn:ngsi-ld:Room:1', name: { type: 'Property', value: 'room 1' } }) },
    { name: 'refuse pick with omit', method: 'GET', path: '/entities/urn:ngsi-ld:Room:1?pick=id&omit=name', status: 400, problem: 'BadRequestData' },
    { name: '404 when the entity has none of attrs', method: 'GET', path: '/entities/urn:ngsi-ld:Room:1?attrs=nothere', status: 404, problem: 'ResourceNotFound' },
    { name: '404 for an unknown entity', method: 'GET', path: '/entities/urn:ngsi-ld:Room:404', status: 404, problem: 'ResourceNotFound' },
    { name: '400 for an id that is not a URI', method: 'GET', path: '/entities/not-a-uri', status: 400, problem: 'BadRequestData' },
    { name: '400 for an unknown option', method: 'GET', path: '/entities/urn:ngsi-ld:Room:1?options=fast', status: 400, problem: 'InvalidRequest' },
    { name: '400 for an unknown parameter', method: 'GET', path: '/entities/urn:ngsi-ld:Room:1?colour=red', status: 400, problem: 'InvalidRequest', check: a => assert.match(a.json.detail, /unknown query parameter 'colour'/) },
    { name: '406 for an Accept we cannot produce', method: 'GET', path: '/entities/urn:ngsi-ld:Room:1', opts: { headers: { accept: 'text/html' } }, status: 406, problem: 'NotAcceptable' },
    { name: 'application/ld+json puts @context in the body', method: 'GET', path: '/entities/urn:ngsi-ld:Room:1', opts: { headers: { accept: 'application/ld+json' } }, status: 200, check: a => {
      assert.match(a.headers.get('content-type') ?? '', /^application\/ld\+json/)
      assert.equal(a.json['@context'], 'https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld')
      assert.equal(a.headers.get('link'), null)
    } },
    { name: 'application/geo+json gives a Feature', method: 'GET', path: '/entities/urn:ngsi-ld:Room:1?options=keyValues', opts: { headers: { accept: 'application/geo+json' } }, status: 200, check: a => {
      assert.equal(a.json.type, 'Feature')
      assert.deepEqual(a.json.geometry, room(1).location.value)
      assert.equal(a.json.properties.name, 'room 1')
    } },
    { name: 'a Link @context compacts names', method: 'GET', path: '/entities/urn:ngsi-ld:Car:1?options=keyValues', opts: () => ({ headers: { link: CTX_LINK(ctxUrl) } }), status: 200, check: a => {
      assert.deepEqual(a.json, { id: 'urn:ngsi-ld:Car:1', type: 'Car', speed: 80, brand: 'Seat' })
      assert.match(a.headers.get('link') ?? '', new RegExp(ctxUrl.replace(/[.]/g, '\\.')))
    } },
    { name: 'without that @context the names stay expanded', method: 'GET', path: '/entities/urn:ngsi-ld:Car:1?options=keyValues', status: 200, check: a => assert.deepEqual(a.json, { id: 'urn:ngsi-ld:Car:1', type: 'https://example.org/Car', 'https://example.org/speed': 80, 'https://example.org/brand': 'Seat' }) },

    // Attributes
    { name: 'append an attribute', method: 'POST', path: '/entities/urn:ngsi-ld:Room:1/attrs', opts: { body: { humidity: { type: 'Property', value: 40 } } }, status: 204 },
    { name: 'append with noOverwrite reports the existing one', method: 'POST', path: '/entities/urn:ngsi-ld:Room:1/attrs?options=noOverwrite', opts: { body: { humidity: { value: 99 }, pressure: { value: 1013 } } }, status: 207, check: a => {
      assert.deepEqual(a.json.updated, ['pressure'])
      assert.equal(a.json.notUpdated[0].attributeName, 'humidity')
    } },
    { name: '…humidity kept its value', method: 'GET', path: '/entities/urn:ngsi-ld:Room:1?attrs=humidity,pressure&options=keyValues', status: 200, check: a => assert.deepEqual(a.json, { id: 'urn:ngsi-ld:Room:1', type: 'Room', humidity: 40, pressure: 1013 }) },
    { name: 'update attributes: existing ones only', method: 'PATCH', path: '/entities/urn:ngsi-ld:Room:1/attrs', opts: { body: { humidity: { value: 41 }, nope: { value: 1 } } }, status: 207, check: a => {
      assert.deepEqual(a.json.updated, ['humidity'])
      assert.equal(a.json.notUpdated[0].attributeName, 'nope')
    } },
    { name: 'partial attribute update keeps the other members', method: 'PATCH', path: '/entities/urn:ngsi-ld:Room:1/attrs/temperature', opts: { body: { value: 25 } }, status: 204 },
    { name: '…unitCode is still there', method: 'GET', path: '/entities/urn:ngsi-ld:Room:1?attrs=temperature', status: 200, check: a => assert.deepEqual(a.json.temperature, { type: 'Property', value: 25, unitCode: 'CEL', observedAt: '2026-11-01T10:00:00Z' }) },
    { name: 'partial update of a missing attribute is 404', method: 'PATCH', path: '/entities/urn:ngsi-ld:Room:1/attrs/colour', opts: { body: { value: 'red' } }, status: 404, problem: 'ResourceNotFound' },
    { name: 'replace an attribute', method: 'PUT', path: '/entities/urn:ngsi-ld:Room:1/attrs/temperature', opts: { body: { type: 'Property', value: 30 } }, status: 204 },
    { name: '…the old members are gone', method: 'GET', path: '/entities/urn:ngsi-ld:Room:1?attrs=temperature', status: 200, check: a => assert.deepEqual(a.json.temperature, { type: 'Property', value: 30 }) },
    { name: 'append a dataset instance', method: 'POST', path: '/entities/urn:ngsi-ld:Room:1/attrs', opts: { body: { temperature: { value: 31, datasetId: 'urn:ngsi-ld:Dataset:sensor2' } } }, status: 204 },
    { name: '…both instances are there', method: 'GET', path: '/entities/urn:ngsi-ld:Room:1?attrs=temperature&options=keyValues', status: 200, check: a => assert.deepEqual(a.json.temperature, [30, 31]) },
    { name: 'delete one dataset instance', method: 'DELETE', path: '/entities/urn:ngsi-ld:Room:1/attrs/temperature?datasetId=urn:ngsi-ld:Dataset:sensor2', status: 204 },
    { name: 'delete it again is 404', method: 'DELETE', path: '/entities/urn:ngsi-ld:Room:1/attrs/temperature?datasetId=urn:ngsi-ld:Dataset:sensor2', status: 404, problem: 'ResourceNotFound' },
    { name: 'delete an attribute', method: 'DELETE', path: '/entities/urn:ngsi-ld:Room:1/attrs/pressure', status: 204 },
    { name: 'merge entity: update, add, and delete with NGSI-LD Null', method: 'PATCH', path: '/entities/urn:ngsi-ld:Room:1', opts: { body: { humidity: { value: 50 }, occupied: { value: true }, name: 'urn:ngsi-ld:null' } }, status: 204 },
    { name: '…the merge result', method: 'GET', path: '/entities/urn:ngsi-ld:Room:1?options=keyValues&omit=location', status: 200, check: a => assert.deepEqual(a.json, { id: 'urn:ngsi-ld:Room:1', type: 'Room', temperature: 30, humidity: 50, occupied: true }) },
    { name: 'merge a missing entity is 404', method: 'PATCH', path: '/entities/urn:ngsi-ld:Room:404', opts: { body: { humidity: { value: 1 } } }, status: 404, problem: 'ResourceNotFound' },
    { name: 'replace the entity', method: 'PUT', path: '/entities/urn:ngsi-ld:Room:2', opts: { body: { type: 'Room', seats: { value: 4 } } }, status: 204 },
    { name: '…only the new attributes remain', method: 'GET', path: '/entities/urn:ngsi-ld:Room:2?options=keyValues', status: 200, check: a => assert.deepEqual(a.json, { id: 'urn:ngsi-ld:Room:2', type: 'Room', seats: 4 }) },
    { name: 'replace with a different id in the body is 400', method: 'PUT', path: '/entities/urn:ngsi-ld:Room:2', opts: { body: { id: 'urn:ngsi-ld:Room:3', type: 'Room' } }, status: 400, problem: 'BadRequestData' },
    { name: 'PUT on /entities is 405', method: 'PUT', path: '/entities', status: 405, problem: 'MethodNotAllowed', check: a => assert.equal(a.headers.get('allow'), 'GET, POST') },
    { name: 'delete the entity', method: 'DELETE', path: '/entities/urn:ngsi-ld:Room:2', status: 204 },
    { name: '…it is gone', method: 'GET', path: '/entities/urn:ngsi-ld:Room:2', status: 404, problem: 'ResourceNotFound' },
    { name: 'delete it again is 404', method: 'DELETE', path: '/entities/urn:ngsi-ld:Room:2', status: 404, problem: 'ResourceNotFound' },
    { name: 'an unknown path is 404', method: 'GET', path: '/nothing', status: 404, problem: 'ResourceNotFound' }
  ]

  for (const c of cases) {
    it(`${c.method} ${c.path.split('?')[0]}: ${c.name} → ${c.status}`, async () => {
      const opts = typeof c.opts === 'function' ? c.opts() : c.opts
      const a = await call(c.method, P + c.path, opts)
      assert.equal(a.status, c.status, `body: ${a.text}`)
      if (c.problem != null) {
        assert.equal(a.json?.type, ETSI(c.problem), a.text)
        assert.equal(a.json.status, c.status)
        assert.equal(typeof a.json.detail, 'string')
        assert.match(a.headers.get('content-type') ?? '', /^application\/json/)
      }
      c.check?.(a)
    })
  }

  it('fetched the remote @context once and served it from cache after', () => {
    assert.equal(ctxFetches, 1)
  })

  it('keeps every entity across a restart on the same data dir', async () => {
    const before = await call('GET', `${P}/entities/urn:ngsi-ld:Room:1?options=sysAttrs`)
    assert.equal(before.status, 200)
    const config = node.config
    await node.stop()
    const { ContinuumNode } = await import('../../../src/node.ts')
    const { pino } = await import('pino')
    node = new ContinuumNode(config, { logger: pino({ level: 'silent' }) })
    await node.start()
    const after = await call('GET', `${P}/entities/urn:ngsi-ld:Room:1?options=sysAttrs`)
    assert.deepEqual(after.json, before.json)
    assert.equal((await call('GET', `${P}/entities/urn:ngsi-ld:Room:2`)).status, 404, 'deletes are durable too')
  })
})

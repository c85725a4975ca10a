import { strict as assert } from 'node:assert'
import type { ContinuumNode } from '../../../src/node.ts'
import { cleanup, nodeFor, prepareDomain } from '../../helpers/index.ts'
import { client, contextServer, CTX_LINK, ETSI, P, type Answer, type CallOptions } from './receiver.ts'

interface Case {
  name: string
  method: string
  path: string
  opts?: CallOptions | (() => CallOptions)
  status: number
  /** ProblemDetails type (for errors) */
  problem?: string
  /** a word the ProblemDetails detail must contain (the member at fault) */
  detail?: string
  check?: (a: Answer) => void
}

const ENDPOINT = 'http://127.0.0.1:9/notify'
const FUTURE = new Date(Date.now() + 24 * 3600_000).toISOString()

/** A valid subscription, with members replaced or (undefined) removed. */
function sub (over: Record<string, unknown> = {}): Record<string, unknown> {
  const base: Record<string, unknown> = {
    type: 'Subscription',
    entities: [{ type: 'Room' }],
    notification: { endpoint: { uri: ENDPOINT } }
  }
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) delete base[k]; else base[k] = v
  }
  return base
}

const bad = (name: string, body: unknown, detail: string, problem = 'BadRequestData', status = 400): Case =>
  ({ name: `POST refuses ${name}`, method: 'POST', path: '/subscriptions', opts: { body }, status, problem, detail })

/**
 * The subscription API of one real node over HTTP, table-driven: each row is one request in
 * order (later rows see what earlier rows did) with its status, ProblemDetails type and checks.
 */
describe('NGSI-LD API: subscriptions CRUD', function () {
  this.timeout(60_000)
  let node: ContinuumNode
  let call: ReturnType<typeof client>
  let ctx: Awaited<ReturnType<typeof contextServer>>
  let generated = ''

  before(async () => {
    ctx = await contextServer({ ex: 'https://example.org/', Car: 'ex:Car', speed: 'ex:speed', brand: 'ex:brand' })
    const d = await prepareDomain('subs-crud')
    node = nodeFor(d, { members: [] })
    await node.start()
    call = client(node.apiUrl + P)
  })

  after(async () => {
    await cleanup()
    await ctx.close()
  })

  const S1 = 'urn:ngsi-ld:Subscription:crud-1'
  const S2 = 'urn:ngsi-ld:Subscription:crud-2'
  const enc = encodeURIComponent

  const cases: Case[] = [
    {
      name: 'POST creates a subscription with the given id: 201 + Location',
      method: 'POST',
      path: '/subscriptions',
      opts: { body: sub({ id: S1, subscriptionName: 'rooms', description: 'every room', watchedAttributes: ['temperature'], q: 'temperature>20', notificationTrigger: ['entityCreated', 'attributeUpdated'] }) },
      status: 201,
      check: a => assert.equal(a.headers.get('location'), `${P}/subscriptions/${enc(S1)}`)
    },
    {
      name: 'POST with the same id again: 409 AlreadyExists',
      method: 'POST',
      path: '/subscriptions',
      opts: { body: sub({ id: S1 }) },
      status: 409,
      problem: 'AlreadyExists'
    },
    {
      name: 'POST without id generates urn:ngsi-ld:Subscription:<uuid>',
      method: 'POST',
      path: '/subscriptions',
      opts: { body: sub() },
      status: 201,
      check: a => {
        const loc = decodeURIComponent(a.headers.get('location') ?? '')
        assert.match(loc, /^\/ngsi-ld\/v1\/subscriptions\/urn:ngsi-ld:Subscription:[0-9a-f-]{36}$/)
        generated = loc.slice(`${P}/subscriptions/`.length)
      }
    },
    {
      name: 'POST with a user @context (Link): names are expanded and kept with it',
      method: 'POST',
      path: '/subscriptions',
      opts: () => ({
        headers: { link: CTX_LINK(ctx.url) },
        body: sub({ id: S2, entities: [{ type: 'Car', idPattern: '^urn:ngsi-ld:Car:' }, { type: '(Car;ex:Truck),Van' }], watchedAttributes: ['speed'], geoQ: { geometry: 'Point', coordinates: [2.17, 41.38], georel: 'near;maxDistance==2000', geoproperty: 'location' }, notification: { attributes: ['speed', 'brand'], format: 'keyValues', endpoint: { uri: ENDPOINT, accept: 'application/ld+json', receiverInfo: [{ key: 'X-Api-Key', value: 'k' }] } }, expiresAt: FUTURE, throttling: 2 })
      }),
      status: 201
    },
    {
      name: 'GET /subscriptions/{id} shows the definition, status and counters',
      method: 'GET',
      path: `/subscriptions/${enc(S1)}`,
      status: 200,
      check: a => {
        assert.equal(a.headers.get('content-type'), 'application/json; charset=utf-8')
        assert.match(a.headers.get('link') ?? '', /rel="http:\/\/www.w3.org\/ns\/json-ld#context"/)
        assert.deepEqual(a.json, {
          id: S1,
          type: 'Subscription',
          subscriptionName: 'rooms',
          description: 'every room',
          entities: [{ type: 'Room' }],
          watchedAttributes: ['temperature'],
          notificationTrigger: ['entityCreated', 'attributeUpdated'],
          q: 'temperature>20',
          isActive: true,
          status: 'active',
          notification: {
            format: 'normalized',
            sysAttrs: false,
            showChanges: false,
            endpoint: { uri: ENDPOINT, accept: 'application/json' },
            timesSent: 0,
            timesFailed: 0
          }
        })
      }
    },
    {
      name: 'GET without a Link header compacts with the subscription\'s own @context',
      method: 'GET',
      path: `/subscriptions/${enc(S2)}`,
      status: 200,
      check: a => {
        assert.equal(a.headers.get('link'), CTX_LINK(ctx.url))
        // the selector comes back normalised: ';' binds tighter than ',', so no parentheses are needed
        assert.deepEqual(a.json.entities, [{ type: 'Car', idPattern: '^urn:ngsi-ld:Car:' }, { type: 'Car;ex:Truck,Van' }])
        assert.deepEqual(a.json.watchedAttributes, ['speed'])
        assert.deepEqual(a.json.notification.attributes, ['speed', 'brand'])
        assert.equal(a.json.notification.format, 'keyValues')
        assert.deepEqual(a.json.notification.endpoint.receiverInfo, [{ key: 'X-Api-Key', value: 'k' }])
        assert.deepEqual(a.json.geoQ, { geometry: 'Point', coordinates: [2.17, 41.38], georel: 'near;maxDistance==2000', geoproperty: 'location' })
        assert.equal(a.json.expiresAt, FUTURE)
        assert.equal(a.json.throttling, 2)
      }
    },
    {
      name: 'GET with the core @context shows the expanded names as IRIs',
      method: 'GET',
      path: `/subscriptions/${enc(S2)}`,
      opts: { headers: { link: CTX_LINK('https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld') } },
      status: 200,
      check: a => {
        assert.deepEqual(a.json.watchedAttributes, ['https://example.org/speed'])
        assert.equal(a.json.entities[0].type, 'https://example.org/Car')
      }
    },
    {
      name: 'GET with Accept application/ld+json puts the @context in the body',
      method: 'GET',
      path: `/subscriptions/${enc(S2)}`,
      opts: { headers: { accept: 'application/ld+json' } },
      status: 200,
      check: a => {
        assert.equal(a.headers.get('content-type'), 'application/ld+json; charset=utf-8')
        assert.equal(a.json['@context'], ctx.url)
      }
    },
    {
      name: 'GET with options=sysAttrs adds createdAt and modifiedAt',
      method: 'GET',
      path: `/subscriptions/${enc(S1)}?options=sysAttrs`,
      status: 200,
      check: a => {
        assert.ok(!Number.isNaN(Date.parse(a.json.createdAt)))
        assert.equal(a.json.modifiedAt, a.json.createdAt)
      }
    },
    { name: 'GET an unknown subscription: 404', method: 'GET', path: `/subscriptions/${enc('urn:ngsi-ld:Subscription:none')}`, status: 404, problem: 'ResourceNotFound' },
    { name: 'GET a subscription id that is not a URI: 400', method: 'GET', path: '/subscriptions/not-a-uri', status: 400, problem: 'BadRequestData' },
    { name: 'GET with an unknown parameter: 400 InvalidRequest', method: 'GET', path: '/subscriptions?foo=1', status: 400, problem: 'InvalidRequest' },
    { name: 'GET with an unsupported option: 400 InvalidRequest', method: 'GET', path: '/subscriptions?options=keyValues', status: 400, problem: 'InvalidRequest' },
    {
      name: 'GET /subscriptions lists all, in creation order, with count',
      method: 'GET',
      path: '/subscriptions?count=true',
      status: 200,
      check: a => {
        assert.equal(a.headers.get('ngsild-results-count'), '3')
        assert.deepEqual(a.json.map((s: { id: string }) => s.id), [S1, generated, S2])
      }
    },
    {
      name: 'GET /subscriptions pages with limit/offset and Link rel=next/prev',
      method: 'GET',
      path: '/subscriptions?limit=1&offset=1',
      status: 200,
      check: a => {
        assert.deepEqual(a.json.map((s: { id: string }) => s.id), [generated])
        const link = a.headers.get('link') ?? ''
        assert.match(link, /rel="next"/)
        assert.match(link, /rel="prev"/)
      }
    },
    {
      name: 'GET /subscriptions?limit=0&count=true: only the count',
      method: 'GET',
      path: '/subscriptions?limit=0&count=true',
      status: 200,
      check: a => { assert.deepEqual(a.json, []); assert.equal(a.headers.get('ngsild-results-count'), '3') }
    },
    { name: 'GET /subscriptions?limit=0 without count: 400', method: 'GET', path: '/subscriptions?limit=0', status: 400, problem: 'BadRequestData' },
    { name: 'GET /subscriptions with a limit above the maximum: 403 TooManyResults', method: 'GET', path: '/subscriptions?limit=100000', status: 403, problem: 'TooManyResults' },

    // Validation of the body, one member at a time
    bad('a body without type', sub({ type: undefined }), 'type'),
    bad('type other than Subscription', sub({ type: 'Registration' }), 'type'),
    bad('an id that is not a URI', sub({ id: 'sub 1' }), 'id'),
    bad('neither entities nor watchedAttributes', sub({ entities: undefined }), 'entities'),
    bad('an empty entities array', sub({ entities: [] }), 'entities'),
    bad('an entity selector without type', sub({ entities: [{ id: 'urn:ngsi-ld:Room:1' }] }), 'entities[0].type'),
    bad('an unknown selector member', sub({ entities: [{ type: 'Room', typo: 1 }] }), 'entities[0].typo'),
    bad('a bad idPattern', sub({ entities: [{ type: 'Room', idPattern: '(' }] }), 'entities[0].idPattern'),
    bad('a bad type selector', sub({ entities: [{ type: 'Room;' }] }), 'entities[0].type'),
    bad('a selector id that is not a URI', sub({ entities: [{ type: 'Room', id: 'room 1' }] }), 'entities[0].id'),
    bad('empty watchedAttributes', sub({ watchedAttributes: [] }), 'watchedAttributes'),
    bad('a watched attribute that is not a string', sub({ watchedAttributes: [1] }), 'watchedAttributes[0]'),
    bad('an unknown notificationTrigger', sub({ notificationTrigger: ['entityExploded'] }), 'notificationTrigger[0]'),
    bad('a bad q', sub({ q: 'temperature>' }), 'q'),
    bad('a geoQ without coordinates', sub({ geoQ: { geometry: 'Point', georel: 'near;maxDistance==10' } }), 'geoQ'),
    bad('a geoQ with a bad georel', sub({ geoQ: { geometry: 'Point', coordinates: [1, 2], georel: 'nearby' } }), 'geoQ.georel'),
    bad('isActive that is not a boolean', sub({ isActive: 'yes' }), 'isActive'),
    bad('expiresAt in the past', sub({ expiresAt: '2001-01-01T00:00:00Z' }), 'expiresAt'),
    bad('expiresAt that is not a DateTime', sub({ expiresAt: 'tomorrow' }), 'expiresAt'),
    bad('a negative throttling', sub({ throttling: -1 }), 'throttling'),
    bad('timeInterval 0', sub({ timeInterval: 0 }), 'timeInterval'),
    bad('throttling with timeInterval', sub({ throttling: 1, timeInterval: 10 }), 'timeInterval'),
    bad('timeInterval with watchedAttributes', sub({ timeInterval: 10, watchedAttributes: ['temperature'] }), 'watchedAttributes'),
    bad('a missing notification', sub({ notification: undefined }), 'notification'),
    bad('a notification without endpoint', sub({ notification: { format: 'keyValues' } }), 'notification.endpoint'),
    bad('an mqtt endpoint', sub({ notification: { endpoint: { uri: 'mqtt://broker:1883/topic' } } }), 'notification.endpoint.uri'),
    bad('an endpoint uri that is not a URL', sub({ notification: { endpoint: { uri: 'notify-me' } } }), 'notification.endpoint.uri'),
    bad('an endpoint uri with credentials', sub({ notification: { endpoint: { uri: 'http://user:secret@127.0.0.1:9/n' } } }), 'notification.endpoint.uri'),
    bad('an unknown accept', sub({ notification: { endpoint: { uri: ENDPOINT, accept: 'text/plain' } } }), 'notification.endpoint.accept'),
    bad('a timeout below 1 ms', sub({ notification: { endpoint: { uri: ENDPOINT, timeout: 0 } } }), 'notification.endpoint.timeout'),
    bad('an unknown format', sub({ notification: { format: 'xml', endpoint: { uri: ENDPOINT } } }), 'notification.format'),
    bad('showChanges with keyValues', sub({ notification: { format: 'keyValues', showChanges: true, endpoint: { uri: ENDPOINT } } }), 'notification.showChanges'),
    bad('empty notification.attributes', sub({ notification: { attributes: [], endpoint: { uri: ENDPOINT } } }), 'notification.attributes'),
    bad('a receiverInfo that sets Content-Type', sub({ notification: { endpoint: { uri: ENDPOINT, receiverInfo: [{ key: 'Content-Type', value: 'text/plain' }] } } }), 'receiverInfo[0].key'),
    bad('a receiverInfo value that is not a string', sub({ notification: { endpoint: { uri: ENDPOINT, receiverInfo: [{ key: 'X-A', value: 1 }] } } }), 'receiverInfo[0].value'),
    bad('a jsonldContext that is not a URI', sub({ jsonldContext: 'my context' }), 'jsonldContext'),
    bad('an unknown member', sub({ watchedAttribute: ['temperature'] }), 'watchedAttribute'),
    bad('a member set to null', sub({ q: null }), 'q'),
    bad('scopeQ (not implemented)', sub({ scopeQ: '/Madrid' }), 'scopeQ', 'NotImplemented', 501),
    {
      name: 'POST with Content-Type text/plain: 415',
      method: 'POST',
      path: '/subscriptions',
      opts: { headers: { 'content-type': 'text/plain' }, raw: JSON.stringify(sub()) },
      status: 415,
      problem: 'UnsupportedMediaType'
    },
    {
      name: 'POST application/ld+json without @context: 400',
      method: 'POST',
      path: '/subscriptions',
      opts: { headers: { 'content-type': 'application/ld+json' }, body: sub() },
      status: 400,
      problem: 'BadRequestData'
    },
    {
      name: 'POST invalid JSON: 400 InvalidRequest',
      method: 'POST',
      path: '/subscriptions',
      opts: { headers: { 'content-type': 'application/json' }, raw: '{"type":' },
      status: 400,
      problem: 'InvalidRequest'
    },
    {
      name: 'POST application/ld+json with @context in the body',
      method: 'POST',
      path: '/subscriptions',
      opts: () => ({ headers: { 'content-type': 'application/ld+json' }, body: sub({ id: 'urn:ngsi-ld:Subscription:ld', entities: [{ type: 'Car' }], '@context': ctx.url }) }),
      status: 201
    },
    {
      name: 'GET shows the ld+json subscription\'s names compacted with its body @context',
      method: 'GET',
      path: `/subscriptions/${enc('urn:ngsi-ld:Subscription:ld')}`,
      status: 200,
      check: a => assert.deepEqual(a.json.entities, [{ type: 'Car' }])
    },
    { name: 'DELETE the ld+json one', method: 'DELETE', path: `/subscriptions/${enc('urn:ngsi-ld:Subscription:ld')}`, status: 204 },

    // Update
    {
      name: 'PATCH replaces the members given: 204',
      method: 'PATCH',
      path: `/subscriptions/${enc(S1)}`,
      opts: { body: { type: 'Subscription', q: 'temperature>25', throttling: 5, notification: { format: 'keyValues' } } },
      status: 204
    },
    {
      name: 'GET shows the update; the endpoint was merged, not replaced',
      method: 'GET',
      path: `/subscriptions/${enc(S1)}?options=sysAttrs`,
      status: 200,
      check: a => {
        assert.equal(a.json.q, 'temperature>25')
        assert.equal(a.json.throttling, 5)
        assert.equal(a.json.notification.format, 'keyValues')
        assert.equal(a.json.notification.endpoint.uri, ENDPOINT)
        assert.ok(a.json.modifiedAt >= a.json.createdAt)
      }
    },
    {
      name: 'PATCH that would make throttling and timeInterval coexist: 400',
      method: 'PATCH',
      path: `/subscriptions/${enc(S1)}`,
      opts: { body: { timeInterval: 10 } },
      status: 400,
      problem: 'BadRequestData',
      detail: 'timeInterval'
    },
    {
      name: 'PATCH with null removes members',
      method: 'PATCH',
      path: `/subscriptions/${enc(S1)}`,
      opts: { body: { q: null, throttling: null, watchedAttributes: null, description: null } },
      status: 204
    },
    {
      name: 'GET: the removed members are gone',
      method: 'GET',
      path: `/subscriptions/${enc(S1)}`,
      status: 200,
      check: a => {
        for (const k of ['q', 'throttling', 'watchedAttributes', 'description']) assert.ok(!(k in a.json), k)
      }
    },
    {
      name: 'PATCH isActive=false pauses',
      method: 'PATCH',
      path: `/subscriptions/${enc(S1)}`,
      opts: { body: { isActive: false } },
      status: 204
    },
    {
      name: 'GET: status paused',
      method: 'GET',
      path: `/subscriptions/${enc(S1)}`,
      status: 200,
      check: a => { assert.equal(a.json.status, 'paused'); assert.equal(a.json.isActive, false) }
    },
    {
      name: 'PATCH with Link: new names are expanded with that @context, which the subscription keeps',
      method: 'PATCH',
      path: `/subscriptions/${enc(S1)}`,
      opts: () => ({ headers: { link: CTX_LINK(ctx.url) }, body: { entities: [{ type: 'Car' }], notification: { attributes: ['speed'] } } }),
      status: 204
    },
    {
      name: 'GET: compacted with the new @context',
      method: 'GET',
      path: `/subscriptions/${enc(S1)}`,
      status: 200,
      check: a => {
        assert.deepEqual(a.json.entities, [{ type: 'Car' }])
        assert.deepEqual(a.json.notification.attributes, ['speed'])
      }
    },
    { name: 'PATCH an unknown subscription: 404', method: 'PATCH', path: `/subscriptions/${enc('urn:ngsi-ld:Subscription:none')}`, opts: { body: { isActive: true } }, status: 404, problem: 'ResourceNotFound' },
    { name: 'PATCH that changes nothing: 400', method: 'PATCH', path: `/subscriptions/${enc(S1)}`, opts: { body: { type: 'Subscription' } }, status: 400, problem: 'BadRequestData' },
    { name: 'PATCH with another id: 400', method: 'PATCH', path: `/subscriptions/${enc(S1)}`, opts: { body: { id: S2, isActive: true } }, status: 400, problem: 'BadRequestData', detail: 'id' },
    { name: 'PATCH expiresAt in the past: 400', method: 'PATCH', path: `/subscriptions/${enc(S1)}`, opts: { body: { expiresAt: '2001-01-01T00:00:00Z' } }, status: 400, problem: 'BadRequestData', detail: 'expiresAt' },
    { name: 'PATCH removing the endpoint: 400', method: 'PATCH', path: `/subscriptions/${enc(S1)}`, opts: { body: { notification: { endpoint: null } } }, status: 400, problem: 'BadRequestData', detail: 'notification.endpoint' },
    { name: 'PATCH a bad q: 400', method: 'PATCH', path: `/subscriptions/${enc(S1)}`, opts: { body: { q: '(a' } }, status: 400, problem: 'BadRequestData', detail: 'q' },
    { name: 'PUT is not allowed: 405', method: 'PUT', path: `/subscriptions/${enc(S1)}`, opts: { body: sub() }, status: 405, problem: 'MethodNotAllowed' },

    // Delete
    { name: 'DELETE: 204', method: 'DELETE', path: `/subscriptions/${enc(S1)}`, status: 204 },
    { name: 'GET after DELETE: 404', method: 'GET', path: `/subscriptions/${enc(S1)}`, status: 404, problem: 'ResourceNotFound' },
    { name: 'DELETE again: 404', method: 'DELETE', path: `/subscriptions/${enc(S1)}`, status: 404, problem: 'ResourceNotFound' },
    {
      name: 'the id of a deleted subscription can be used again',
      method: 'POST',
      path: '/subscriptions',
      opts: { body: sub({ id: S1 }) },
      status: 201
    },
    {
      name: 'GET /subscriptions: the recreated one comes last',
      method: 'GET',
      path: '/subscriptions',
      status: 200,
      check: a => assert.deepEqual(a.json.map((s: { id: string }) => s.id), [generated, S2, S1])
    }
  ]

  for (const c of cases) {
    it(c.name, async () => {
      const opts = typeof c.opts === 'function' ? c.opts() : c.opts
      const a = await call(c.method, c.path, opts)
      assert.equal(a.status, c.status, `${c.method} ${c.path}: ${a.text}`)
      if (c.problem != null) {
        assert.equal(a.json?.type, ETSI(c.problem), a.text)
        assert.equal(a.json?.status, c.status)
      }
      if (c.detail != null) assert.ok(String(a.json?.detail).includes(c.detail), `detail should name ${c.detail}: ${String(a.json?.detail)}`)
      c.check?.(a)
    })
  }
})

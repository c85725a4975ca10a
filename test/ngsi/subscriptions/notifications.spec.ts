import { strict as assert } from 'node:assert'
import type { ContinuumNode } from '../../../src/node.ts'
import { DEFAULT_INSTANCE, formatHlc, type Change } from '../../../src/ngsi/store/index.ts'
import { DEFAULT_VOCAB } from '../../../src/ngsi/types.ts'
import { cleanup, freePort, nodeFor, prepareDomain, waitFor } from '../../helpers/index.ts'
import { client, contextServer, CTX_LINK, P, Receiver, type Received } from './receiver.ts'

const CORE = 'https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld'
const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))
/** Long enough for a notification that was going to be sent to have arrived (a local receiver). */
const SETTLE_MS = 400

const entity = (type: string, n: number | string, temperature = 20, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  id: `urn:ngsi-ld:${type}:${n}`,
  type,
  temperature: { type: 'Property', value: temperature },
  name: { type: 'Property', value: `${type} ${n}` },
  location: { type: 'GeoProperty', value: { type: 'Point', coordinates: [2.17, 41.38] } },
  ...extra
})

const ids = (r: Received): string[] => (r.body.data as Array<{ id: string }>).map(e => e.id)

/**
 * Notifications of one real node to a real HTTP receiver: triggers, filters, formats, media
 * types, headers, throttling, periodic notifications, retries, a receiver that is down, pausing,
 * expiry, and changes that arrive by replication.
 */
describe('NGSI-LD subscriptions: notifications', function () {
  this.timeout(60_000)
  let node: ContinuumNode
  let call: ReturnType<typeof client>
  let rx: Receiver

  before(async () => {
    rx = await Receiver.start()
    const d = await prepareDomain('subs-notify')
    node = nodeFor(d, { members: [] })
    await node.start()
    call = client(node.apiUrl + P)
  })

  after(async () => {
    await cleanup()
    await rx.close()
  })

  /** Creates a subscription notifying `path` of the receiver; returns its id. */
  async function subscribe (path: string, over: Record<string, unknown> = {}, endpoint: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<string> {
    const { notification, ...rest } = over as { notification?: Record<string, unknown> }
    const body = {
      type: 'Subscription',
      ...rest,
      notification: { ...notification, endpoint: { uri: rx.url(path), ...endpoint } }
    }
    const a = await call('POST', '/subscriptions', { body, headers })
    assert.equal(a.status, 201, a.text)
    return decodeURIComponent((a.headers.get('location') ?? '').split('/').pop() ?? '')
  }

  async function create (e: Record<string, unknown>, headers: Record<string, string> = {}): Promise<void> {
    const a = await call('POST', '/entities', { body: e, headers })
    assert.equal(a.status, 201, a.text)
  }

  async function update (id: string, attrs: Record<string, unknown>): Promise<void> {
    const a = await call('PATCH', `/entities/${encodeURIComponent(id)}/attrs`, { body: attrs })
    assert.equal(a.status, 204, a.text)
  }

  async function setTemperature (id: string, value: number): Promise<void> {
    await update(id, { temperature: { type: 'Property', value } })
  }

  async function counters (id: string): Promise<Record<string, unknown>> {
    const a = await call('GET', `/subscriptions/${encodeURIComponent(id)}`)
    assert.equal(a.status, 200, a.text)
    return a.json.notification
  }

  describe('triggers', () => {
    it('by default, creation and attribute updates notify and deletion does not', async () => {
      const sub = await subscribe('/default', { entities: [{ type: 'TrigA' }] })
      await create(entity('TrigA', 1))
      const [first] = await rx.waitFor('/default', 1)
      assert.match(first.body.id, /^urn:ngsi-ld:Notification:[0-9a-f-]{36}$/)
      assert.equal(first.body.type, 'Notification')
      assert.equal(first.body.subscriptionId, sub)
      assert.ok(!Number.isNaN(Date.parse(first.body.notifiedAt)))
      assert.deepEqual(first.body.data, [{
        id: 'urn:ngsi-ld:TrigA:1',
        type: 'TrigA',
        temperature: { type: 'Property', value: 20 },
        name: { type: 'Property', value: 'TrigA 1' },
        location: { type: 'GeoProperty', value: { type: 'Point', coordinates: [2.17, 41.38] } }
      }])
      await setTemperature('urn:ngsi-ld:TrigA:1', 21)
      const [, second] = await rx.waitFor('/default', 2)
      assert.equal(second.body.data[0].temperature.value, 21)
      assert.equal((await call('DELETE', '/entities/urn:ngsi-ld:TrigA:1')).status, 204)
      // the next entity's creation is the third notification: the deletion made none
      await create(entity('TrigA', 2))
      const all = await rx.waitFor('/default', 3)
      assert.deepEqual(ids(all[2]), ['urn:ngsi-ld:TrigA:2'])
    })

    it('entityCreated + entityDeleted: the whole entity on creation, id/type/deletedAt on deletion, nothing on update', async () => {
      await subscribe('/entity', { entities: [{ type: 'TrigB' }], notificationTrigger: ['entityCreated', 'entityDeleted'] })
      await create(entity('TrigB', 1))
      await rx.waitFor('/entity', 1)
      await setTemperature('urn:ngsi-ld:TrigB:1', 30)
      assert.equal((await call('DELETE', '/entities/urn:ngsi-ld:TrigB:1')).status, 204)
      const [created, deleted] = await rx.waitFor('/entity', 2)
      assert.equal(created.body.data[0].temperature.value, 20)
      const gone = deleted.body.data[0]
      assert.deepEqual(Object.keys(gone).sort(), ['deletedAt', 'id', 'type'])
      assert.equal(gone.id, 'urn:ngsi-ld:TrigB:1')
      assert.equal(gone.type, 'TrigB')
      await sleep(SETTLE_MS)
      assert.equal(rx.on('/entity').length, 2, 'the update made no notification')
    })

    it('attributeUpdated alone: creation does not notify, an update does', async () => {
      await subscribe('/updated', { entities: [{ type: 'TrigC' }], notificationTrigger: ['attributeUpdated'] })
      await create(entity('TrigC', 1))
      await setTemperature('urn:ngsi-ld:TrigC:1', 25)
      const [first] = await rx.waitFor('/updated', 1)
      assert.equal(first.body.data[0].temperature.value, 25, 'the first notification is the update')
    })

    it('attributeCreated + attributeDeleted: new and removed attributes notify, value updates do not', async () => {
      await subscribe('/attrs', { entities: [{ type: 'TrigD' }], notificationTrigger: ['attributeCreated', 'attributeDeleted'] })
      const id = 'urn:ngsi-ld:TrigD:1'
      await create(entity('TrigD', 1))
      await setTemperature(id, 26)
      assert.equal((await call('POST', `/entities/${encodeURIComponent(id)}/attrs`, { body: { humidity: { type: 'Property', value: 40 } } })).status, 204)
      assert.equal((await call('DELETE', `/entities/${encodeURIComponent(id)}/attrs/name`)).status, 204)
      const [created, appended, removed] = await rx.waitFor('/attrs', 3)
      assert.equal(created.body.data[0].temperature.value, 20)
      assert.equal(appended.body.data[0].humidity.value, 40, 'the second notification is the new attribute, not the update')
      assert.equal(appended.body.data[0].temperature.value, 26)
      assert.ok(!('name' in removed.body.data[0]))
    })

    it('entityUpdated stands for attribute creation (creation included), update and deletion', async () => {
      await subscribe('/entity-updated', { entities: [{ type: 'TrigE' }], notificationTrigger: ['entityUpdated'] })
      const id = 'urn:ngsi-ld:TrigE:1'
      await create(entity('TrigE', 1))
      await setTemperature(id, 27)
      assert.equal((await call('DELETE', `/entities/${encodeURIComponent(id)}/attrs/name`)).status, 204)
      const [created, updated, removed] = await rx.waitFor('/entity-updated', 3)
      assert.equal(created.body.data[0].temperature.value, 20, 'creation creates attributes')
      assert.equal(updated.body.data[0].temperature.value, 27)
      assert.ok(!('name' in removed.body.data[0]))
    })
  })

  describe('filters', () => {
    it('watchedAttributes: only changes of a watched attribute notify', async () => {
      await subscribe('/watched', { entities: [{ type: 'Watch' }], watchedAttributes: ['temperature'] })
      const id = 'urn:ngsi-ld:Watch:1'
      await create(entity('Watch', 1))
      await update(id, { name: { type: 'Property', value: 'renamed' } })
      await setTemperature(id, 31)
      const [, second] = await rx.waitFor('/watched', 2)
      assert.equal(second.body.data[0].temperature.value, 31)
      await sleep(SETTLE_MS)
      assert.equal(rx.on('/watched').length, 2, 'the rename made no notification')
    })

    it('watchedAttributes without entities: any entity type', async () => {
      await subscribe('/watched-any', { watchedAttributes: ['pressure'] })
      await create(entity('Whatever', 1))
      await create(entity('Boiler', 1, 20, { pressure: { type: 'Property', value: 2.5 } }))
      const [first] = await rx.waitFor('/watched-any', 1)
      assert.deepEqual(ids(first), ['urn:ngsi-ld:Boiler:1'])
    })

    it('q: only entities that satisfy it after the change', async () => {
      await subscribe('/q', { entities: [{ type: 'QRoom' }], q: 'temperature>25' })
      const id = 'urn:ngsi-ld:QRoom:1'
      await create(entity('QRoom', 1, 20))
      await setTemperature(id, 30)
      await setTemperature(id, 22)
      await setTemperature(id, 40)
      const got = await rx.waitFor('/q', 2)
      assert.deepEqual(got.map(r => r.body.data[0].temperature.value), [30, 40])
    })

    it('entities: id and idPattern select within the type', async () => {
      await subscribe('/by-id', { entities: [{ type: 'Sel', id: 'urn:ngsi-ld:Sel:b' }, { type: 'Sel', idPattern: '^urn:ngsi-ld:Sel:c' }] })
      for (const n of ['a', 'b', 'c1', 'd']) await create(entity('Sel', n))
      const got = await rx.waitFor('/by-id', 2)
      assert.deepEqual(got.map(ids), [['urn:ngsi-ld:Sel:b'], ['urn:ngsi-ld:Sel:c1']])
    })

    it('geoQ: only entities near the point', async () => {
      await subscribe('/geo', { entities: [{ type: 'Geo' }], geoQ: { geometry: 'Point', coordinates: [2.17, 41.38], georel: 'near;maxDistance==1000' } })
      const at = (lon: number, lat: number): Record<string, unknown> => ({ location: { type: 'GeoProperty', value: { type: 'Point', coordinates: [lon, lat] } } })
      await create(entity('Geo', 'near1', 20, at(2.171, 41.381)))
      await create(entity('Geo', 'far', 20, at(3.0, 42.0)))
      await create(entity('Geo', 'near2', 20, at(2.169, 41.379)))
      const got = await rx.waitFor('/geo', 2)
      assert.deepEqual(got.map(ids), [['urn:ngsi-ld:Geo:near1'], ['urn:ngsi-ld:Geo:near2']])
    })
  })

  describe('representation', () => {
    it('formats keyValues, concise and normalized (with attributes and sysAttrs)', async () => {
      await subscribe('/kv', { entities: [{ type: 'Fmt' }], notification: { format: 'keyValues' } })
      await subscribe('/concise', { entities: [{ type: 'Fmt' }], notification: { format: 'concise' } })
      await subscribe('/normalized', { entities: [{ type: 'Fmt' }], notification: { attributes: ['temperature'], sysAttrs: true } })
      await create(entity('Fmt', 1, 20, { temperature: { type: 'Property', value: 20, unitCode: 'CEL' } }))
      const [kv] = await rx.waitFor('/kv', 1)
      const [concise] = await rx.waitFor('/concise', 1)
      const [normalized] = await rx.waitFor('/normalized', 1)
      assert.equal(kv.body.data[0].temperature, 20)
      assert.equal(kv.body.data[0].name, 'Fmt 1')
      assert.deepEqual(concise.body.data[0].temperature, { value: 20, unitCode: 'CEL' })
      assert.equal(concise.body.data[0].name, 'Fmt 1')
      const n = normalized.body.data[0]
      assert.equal(n.temperature.type, 'Property')
      assert.equal(n.temperature.unitCode, 'CEL')
      assert.ok(typeof n.temperature.createdAt === 'string' && typeof n.createdAt === 'string', 'sysAttrs')
      assert.ok(!('name' in n) && !('location' in n), 'only the listed attributes')
      for (const r of [kv, concise, normalized]) {
        assert.equal(r.headers['content-type'], 'application/json')
        assert.equal(r.headers.link, CTX_LINK(CORE))
      }
    })

    it('accept application/ld+json puts the @context in the body', async () => {
      await subscribe('/ld', { entities: [{ type: 'Acc' }] }, { accept: 'application/ld+json' })
      await create(entity('Acc', 1))
      const [r] = await rx.waitFor('/ld', 1)
      assert.equal(r.headers['content-type'], 'application/ld+json')
      assert.equal(r.headers.link, undefined)
      assert.equal(r.body['@context'], CORE)
      assert.equal(r.body.data[0].id, 'urn:ngsi-ld:Acc:1')
    })

    it('accept application/geo+json sends data as a FeatureCollection', async () => {
      await subscribe('/geojson', { entities: [{ type: 'AccG' }] }, { accept: 'application/geo+json' })
      await create(entity('AccG', 1))
      const [r] = await rx.waitFor('/geojson', 1)
      assert.equal(r.headers['content-type'], 'application/geo+json')
      const fc = r.body.data
      assert.equal(fc.type, 'FeatureCollection')
      assert.equal(fc['@context'], CORE)
      assert.equal(fc.features[0].type, 'Feature')
      assert.equal(fc.features[0].id, 'urn:ngsi-ld:AccG:1')
      assert.deepEqual(fc.features[0].geometry, { type: 'Point', coordinates: [2.17, 41.38] })
      assert.equal(fc.features[0].properties.type, 'AccG')
    })

    it('receiverInfo entries arrive as HTTP headers', async () => {
      await subscribe('/headers', { entities: [{ type: 'Hdr' }] }, { receiverInfo: [{ key: 'X-Api-Key', value: 'secret-1' }, { key: 'X-Tenant', value: 'blue' }] })
      await create(entity('Hdr', 1))
      const [r] = await rx.waitFor('/headers', 1)
      assert.equal(r.headers['x-api-key'], 'secret-1')
      assert.equal(r.headers['x-tenant'], 'blue')
    })

    it('names are compacted with the @context the subscription was created with', async () => {
      const ctx = await contextServer({ ex: 'https://example.org/', Car: 'ex:Car', speed: 'ex:speed' })
      try {
        await subscribe('/user-context', { entities: [{ type: 'Car' }], watchedAttributes: ['speed'] }, {}, { link: CTX_LINK(ctx.url) })
        await create({ id: 'urn:ngsi-ld:Car:1', type: 'Car', speed: { type: 'Property', value: 80 } }, { link: CTX_LINK(ctx.url) })
        const [r] = await rx.waitFor('/user-context', 1)
        assert.equal(r.headers.link, CTX_LINK(ctx.url))
        assert.deepEqual(r.body.data[0], { id: 'urn:ngsi-ld:Car:1', type: 'Car', speed: { type: 'Property', value: 80 } })
      } finally {
        await ctx.close()
      }
    })

    it('showChanges adds the previous value', async () => {
      await subscribe('/changes', { entities: [{ type: 'Chg' }], notification: { showChanges: true } })
      await create(entity('Chg', 1, 20))
      await setTemperature('urn:ngsi-ld:Chg:1', 24)
      const [created, updated] = await rx.waitFor('/changes', 2)
      assert.ok(!('previousValue' in created.body.data[0].temperature))
      assert.deepEqual(updated.body.data[0].temperature, { type: 'Property', value: 24, previousValue: 20 })
      assert.ok(!('previousValue' in updated.body.data[0].name), 'unchanged attributes have none')
    })
  })

  describe('timing', () => {
    it('throttling: at most one notification per window; changes in between are coalesced, not lost', async () => {
      await subscribe('/throttled', { entities: [{ type: 'Thr' }], throttling: 1 })
      await create(entity('Thr', 1, 20))
      await rx.waitFor('/throttled', 1)
      // all within the window that the first notification opened
      await Promise.all([setTemperature('urn:ngsi-ld:Thr:1', 21), create(entity('Thr', 2, 50))])
      await setTemperature('urn:ngsi-ld:Thr:1', 22)
      await setTemperature('urn:ngsi-ld:Thr:1', 23)
      const got = await rx.waitFor('/throttled', 2)
      const second = got[1].body.data as Array<{ id: string, temperature: { value: number } }>
      assert.deepEqual(second.map(e => e.id).sort(), ['urn:ngsi-ld:Thr:1', 'urn:ngsi-ld:Thr:2'])
      assert.equal(second.find(e => e.id === 'urn:ngsi-ld:Thr:1')?.temperature.value, 23, 'the latest state')
      const gap = Date.parse(got[1].body.notifiedAt) - Date.parse(got[0].body.notifiedAt)
      assert.ok(gap >= 990, `notifications ${gap} ms apart`)
      await sleep(1200)
      assert.equal(rx.on('/throttled').length, 2, 'four changes, two notifications')
    })

    it('timeInterval: the matching entities every interval, until deleted', async () => {
      await create(entity('Per', 1))
      await create(entity('Per', 2))
      await create(entity('Other', 1))
      const sub = await subscribe('/periodic', { entities: [{ type: 'Per' }], timeInterval: 0.5 })
      const got = await rx.waitFor('/periodic', 2)
      for (const r of got.slice(0, 2)) assert.deepEqual(ids(r), ['urn:ngsi-ld:Per:1', 'urn:ngsi-ld:Per:2'])
      assert.notEqual(got[0].body.id, got[1].body.id)
      // a change does not notify a periodic subscription by itself
      assert.equal((await call('DELETE', `/subscriptions/${encodeURIComponent(sub)}`)).status, 204)
      await sleep(SETTLE_MS)
      const n = rx.on('/periodic').length
      await sleep(1200)
      assert.equal(rx.on('/periodic').length, n, 'no notification after the delete')
    })
  })

  describe('delivery', () => {
    it('retries a failing receiver with backoff and counts every attempt', async () => {
      rx.behave('/flaky', (_r, nth) => nth <= 2 ? 503 : 204)
      const sub = await subscribe('/flaky', { entities: [{ type: 'Flaky' }] })
      await create(entity('Flaky', 1))
      const got = await rx.waitFor('/flaky', 3)
      assert.equal(new Set(got.map(r => r.body.id)).size, 1, 'the retries resend the same notification')
      const c = await waitFor(async () => { const c = await counters(sub); return c.status === 'ok' ? c : null }, 'status ok')
      assert.equal(c.timesSent, 3)
      assert.equal(c.timesFailed, 2)
      assert.ok(typeof c.lastSuccess === 'string' && typeof c.lastFailure === 'string' && typeof c.lastNotification === 'string')
      assert.ok((c.lastSuccess as string) >= (c.lastFailure as string))
    })

    it('does not retry a 4xx answer', async () => {
      rx.behave('/reject', () => 400)
      const sub = await subscribe('/reject', { entities: [{ type: 'Rej' }] })
      await create(entity('Rej', 1))
      await rx.waitFor('/reject', 1)
      const c = await waitFor(async () => { const c = await counters(sub); return c.status === 'failed' ? c : null }, 'status failed')
      assert.equal(c.timesFailed, 1)
      await sleep(800) // beyond the first retry delay
      assert.equal(rx.on('/reject').length, 1)
    })

    it('a receiver that does not answer never delays the writes', async () => {
      rx.behave('/hang', () => 'hang')
      const sub = await subscribe('/hang', { entities: [{ type: 'Hang' }] }, { timeout: 30_000 })
      for (let i = 1; i <= 5; i++) await create(entity('Hang', i))
      await setTemperature('urn:ngsi-ld:Hang:1', 30)
      await rx.waitFor('/hang', 1)
      assert.equal(rx.pending, 1, 'the first notification is still waiting for its answer')
      // the API stays responsive for the subscription too
      assert.equal((await counters(sub)).timesSent, 0)
    })

    it('a receiver that is down: writes succeed, the failures are counted', async () => {
      const port = await freePort()
      const a = await call('POST', '/subscriptions', { body: { type: 'Subscription', entities: [{ type: 'Down' }], notification: { endpoint: { uri: `http://127.0.0.1:${port}/nobody` } } } })
      assert.equal(a.status, 201)
      const sub = decodeURIComponent((a.headers.get('location') ?? '').split('/').pop() ?? '')
      for (let i = 1; i <= 3; i++) await create(entity('Down', i))
      const c = await waitFor(async () => { const c = await counters(sub); return (c.timesFailed as number) >= 1 ? c : null }, 'a failure')
      assert.equal(c.status, 'failed')
      assert.equal(c.lastSuccess, undefined)
    })

    it('isActive=false pauses: nothing is sent, not even later', async () => {
      const sub = await subscribe('/paused', { entities: [{ type: 'Pause' }], isActive: false })
      assert.equal((await call('GET', `/subscriptions/${encodeURIComponent(sub)}`)).json.status, 'paused')
      await create(entity('Pause', 1))
      assert.equal((await call('PATCH', `/subscriptions/${encodeURIComponent(sub)}`, { body: { isActive: true } })).status, 204)
      await setTemperature('urn:ngsi-ld:Pause:1', 50)
      const [first] = await rx.waitFor('/paused', 1)
      assert.equal(first.body.data[0].temperature.value, 50, 'the first notification is the change made after resuming')
    })

    it('expiresAt: an expired subscription shows so and notifies no more', async () => {
      const expiresAt = new Date(Date.now() + 1500).toISOString()
      const sub = await subscribe('/expiring', { entities: [{ type: 'Exp' }], expiresAt })
      await subscribe('/expiring-witness', { entities: [{ type: 'Exp' }] })
      await create(entity('Exp', 1))
      await rx.waitFor('/expiring', 1)
      await waitFor(async () => (await call('GET', `/subscriptions/${encodeURIComponent(sub)}`)).json.status === 'expired', 'status expired')
      await setTemperature('urn:ngsi-ld:Exp:1', 33)
      await rx.waitFor('/expiring-witness', 2)
      await sleep(SETTLE_MS)
      assert.equal(rx.on('/expiring').length, 1)
    })

    it('a change replicated from another domain notifies exactly like a local one', async () => {
      await subscribe('/remote', { entities: [{ type: 'Rem' }] })
      await create(entity('Rem', 'local', 7, { name: undefined, location: undefined }))
      const [local] = await rx.waitFor('/remote', 1)
      const T = DEFAULT_VOCAB + 'Rem'
      const temp = DEFAULT_VOCAB + 'temperature'
      const id = 'urn:ngsi-ld:Rem:remote'
      const change = (n: number, value: number): Change => ({ id, o: 'domain-z', n, h: formatHlc(Date.now(), n), ...(n === 1 ? { c: 1 as const, t: [T] } : {}), a: [[temp, DEFAULT_INSTANCE, { type: 'Property', value }]] })
      assert.equal((await node.ngsi.store.applyRemote([change(1, 7)])).applied, 1)
      const [, created] = await rx.waitFor('/remote', 2)
      assert.deepEqual(created.body.data, [{ ...local.body.data[0], id }])
      await node.ngsi.store.applyRemote([change(2, 8)])
      const [, , updated] = await rx.waitFor('/remote', 3)
      assert.deepEqual(updated.body.data, [{ id, type: 'Rem', temperature: { type: 'Property', value: 8 } }])
    })
  })
})

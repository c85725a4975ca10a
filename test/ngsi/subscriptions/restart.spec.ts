import { strict as assert } from 'node:assert'
import type { ContinuumNode } from '../../../src/node.ts'
import { cleanup, nodeFor, prepareDomain, waitFor, type TestDomain } from '../../helpers/index.ts'
import { client, P, Receiver } from './receiver.ts'

/** A node stopped and started again on the same data directory keeps its subscriptions. */
describe('NGSI-LD subscriptions: restart', function () {
  this.timeout(60_000)
  let d: TestDomain
  let rx: Receiver

  before(async () => {
    rx = await Receiver.start()
    d = await prepareDomain('subs-restart')
  })

  after(async () => {
    await cleanup()
    await rx.close()
  })

  it('keeps subscriptions, their @context and their counters, and goes on notifying', async () => {
    const S = 'urn:ngsi-ld:Subscription:restart-1'
    const PERIODIC = 'urn:ngsi-ld:Subscription:restart-periodic'
    let node: ContinuumNode = nodeFor(d, { members: [] })
    await node.start()
    let call = client(node.apiUrl + P)
    const sub = { type: 'Subscription', id: S, entities: [{ type: 'Boiler' }], q: 'temperature>10', notification: { format: 'keyValues', endpoint: { uri: rx.url('/r') } } }
    assert.equal((await call('POST', '/subscriptions', { body: sub })).status, 201)
    assert.equal((await call('POST', '/subscriptions', { body: { type: 'Subscription', id: PERIODIC, entities: [{ type: 'Boiler' }], timeInterval: 0.5, notification: { endpoint: { uri: rx.url('/periodic') } } } })).status, 201)
    assert.equal((await call('POST', '/entities', { body: { id: 'urn:ngsi-ld:Boiler:1', type: 'Boiler', temperature: { type: 'Property', value: 60 } } })).status, 201)
    await rx.waitFor('/r', 1)
    await rx.waitFor('/periodic', 1)
    const before = await waitFor(async () => {
      const a = await call('GET', `/subscriptions/${encodeURIComponent(S)}`)
      return a.json.notification.status === 'ok' ? a.json : null
    }, 'the first notification counted')
    assert.equal(before.notification.timesSent, 1)
    await node.stop()

    node = nodeFor(d, { members: [] })
    await node.start()
    call = client(node.apiUrl + P)
    const list = await call('GET', '/subscriptions')
    assert.deepEqual(list.json.map((s: { id: string }) => s.id), [S, PERIODIC])
    const after = (await call('GET', `/subscriptions/${encodeURIComponent(S)}`)).json
    assert.deepEqual(after, before, 'definition and counters as they were')

    // matching works again (q bound without resolving the @context), and so does the periodic timer
    const periodicBefore = rx.on('/periodic').length
    assert.equal((await call('PATCH', '/entities/urn:ngsi-ld:Boiler:1/attrs', { body: { temperature: { type: 'Property', value: 70 } } })).status, 204)
    const [, second] = await rx.waitFor('/r', 2)
    assert.deepEqual(second.body.data, [{ id: 'urn:ngsi-ld:Boiler:1', type: 'Boiler', temperature: 70 }])
    await rx.waitFor('/periodic', periodicBefore + 1, 'periodic notifications after the restart')
    await waitFor(async () => (await call('GET', `/subscriptions/${encodeURIComponent(S)}`)).json.notification.timesSent === 2, 'timesSent 2')
    await node.stop()
  })
})

import { strict as assert } from 'node:assert'
import { join } from 'node:path'
import { Level } from 'level'
import { TypedEventEmitter } from 'main-event'
import { pino } from 'pino'
import { ContextResolver, coreContext } from '../../../src/ngsi/context/index.ts'
import type { ChangeEventDetail, EntityStore, StoreEvents } from '../../../src/ngsi/store/index.ts'
import { SubscriptionManager } from '../../../src/ngsi/subscriptions/index.ts'
import { DEFAULT_VOCAB, type Entity } from '../../../src/ngsi/types.ts'
import { cleanup, tempDir, waitFor } from '../../helpers/index.ts'

const ROOM = DEFAULT_VOCAB + 'Room'
const TEMP = DEFAULT_VOCAB + 'temperature'

function room (n: number, value: number): Entity {
  return { id: `urn:ngsi-ld:Room:${n}`, type: [ROOM], attrs: { [TEMP]: [{ type: 'Property', value, modifiedAt: new Date().toISOString(), writer: 'd' }] } }
}

function change (before: Entity | null, after: Entity | null, n: number): CustomEvent<ChangeEventDetail> {
  const id = (after ?? before)?.id ?? ''
  return new CustomEvent('change', { detail: { change: { id, o: 'domain-b', n, h: `${String(Date.now()).padStart(16, '0')}-00000` }, before, after, local: false } })
}

/**
 * The manager with a stand-in store (change events dispatched by hand) and a stand-in fetch, to
 * check what the HTTP tests cannot pin down: the hand-over off the write path, the queue bound,
 * the concurrency cap and the debounced counter writes.
 */
describe('ngsi subscriptions: SubscriptionManager', function () {
  this.timeout(20_000)
  let db: Level<string, string>
  let events: TypedEventEmitter<StoreEvents>
  let manager: SubscriptionManager
  const calls: string[] = []
  let writes = 0

  /** A fetch that never answers until aborted (a receiver that is down for long). */
  const hangingFetch = (async (url: string | URL | Request, init?: RequestInit): Promise<Response> => {
    calls.push(String(url))
    if (String(url).endsWith('/fail')) return new Response(null, { status: 500 })
    return await new Promise<Response>((_resolve, reject) => {
      init?.signal?.addEventListener('abort', () => { reject(init.signal?.reason) }, { once: true })
    })
  }) as typeof fetch

  // a fresh manager (and database) per test: hanging requests of one test must not hold the slots of the next
  beforeEach(async () => {
    calls.length = 0
    writes = 0
    const dir = await tempDir()
    db = new Level<string, string>(join(dir, 'db'), { valueEncoding: 'utf8' })
    await db.open()
    const batch = db.batch.bind(db) as (...args: unknown[]) => Promise<void>
    // counts batches of counter writes (definitions are written with put)
    ;(db as unknown as { batch: unknown }).batch = async (...args: unknown[]) => { writes++; return await batch(...args) }
    events = new TypedEventEmitter<StoreEvents>()
    const store = { events, scan: async function * () {} } as unknown as Pick<EntityStore, 'events' | 'scan'>
    manager = new SubscriptionManager({ db, store, contexts: new ContextResolver(), log: pino({ level: 'silent' }), fetch: hangingFetch }, {
      maxQueue: 3, maxInFlight: 2, retryDelaysMs: [], counterFlushMs: 50
    })
    await manager.start()
  })

  afterEach(async () => {
    await manager.stop()
    await db.close()
  })

  after(cleanup)

  it('queues off the write path, bounds each queue (oldest dropped, counted) and caps requests in flight', async () => {
    const ids: string[] = []
    for (const path of ['a', 'b', 'c']) {
      const { record } = await manager.create({ type: 'Subscription', entities: [{ type: 'Room' }], notification: { endpoint: { uri: `http://127.0.0.1:9/${path}` } } }, coreContext())
      ids.push(record.id)
    }
    const before = writes
    for (let i = 1; i <= 10; i++) {
      events.dispatchEvent(change(null, room(i, 20 + i), i))
      assert.equal(calls.length, 0, 'nothing is sent inside the change event')
    }
    await waitFor(() => calls.length === 2, 'two requests in flight')
    // all ten changes were queued before the first send: each queue kept the newest three
    assert.deepEqual(ids.map(id => manager.get(id).counters.timesDropped), [7, 7, 7])
    await new Promise(resolve => setTimeout(resolve, 100))
    assert.equal(calls.length, 2, 'never more than maxInFlight')
    // 18+ counter changes, written in a batch or two, not one write each
    await waitFor(() => writes > before, 'counters written')
    await new Promise(resolve => setTimeout(resolve, 150))
    assert.ok(writes - before <= 2, `${writes - before} batches`)
  })

  it('endpoint.cooldown: after a failure, new notifications are not sent until it has passed', async () => {
    const { record } = await manager.create({ type: 'Subscription', entities: [{ type: 'Lab' }], notification: { endpoint: { uri: 'http://127.0.0.1:9/fail', cooldown: 60_000 } } }, coreContext())
    const lab = (n: number): Entity => ({ ...room(n, 1), id: `urn:ngsi-ld:Lab:${n}`, type: [DEFAULT_VOCAB + 'Lab'] })
    events.dispatchEvent(change(null, lab(1), 100))
    await waitFor(() => manager.get(record.id).counters.status === 'failed', 'the first notification failed')
    const sent = calls.filter(c => c.endsWith('/fail')).length
    events.dispatchEvent(change(null, lab(2), 101))
    await new Promise(resolve => setTimeout(resolve, 100))
    assert.equal(calls.filter(c => c.endsWith('/fail')).length, sent, 'nothing sent during the cooldown')
    assert.equal(manager.get(record.id).counters.timesSent, 1)
  })
})

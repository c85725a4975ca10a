import { strict as assert } from 'node:assert'
import type { ContinuumNode } from '../../src/node.ts'
import { NodeFederation } from '../../src/federation.ts'
import type { WritePolicy } from '../../src/ngsi/policy.ts'
import { cleanup, memoryLogger, nodeFor, prepareDomain, type TestDomain } from '../helpers/index.ts'

/** The REST API of a real node, over real HTTP on 127.0.0.1. */
describe('REST API: health, mesh, docs, errors', function () {
  this.timeout(30_000)
  let d: TestDomain
  let node: ContinuumNode
  let base: string

  before(async () => {
    d = await prepareDomain('api-test')
    const other = await prepareDomain('other')
    node = nodeFor(d, { members: [other], logger: memoryLogger().log, config: { api: { host: '127.0.0.1', port: d.apiPort, bodyLimit: 2048 }, replication: { ownerInId: true } } })
    await node.start()
    base = node.apiUrl
  })

  after(cleanup)

  it('GET /health reports the domain, peer id and live members', async () => {
    const res = await fetch(`${base}/health`)
    assert.equal(res.status, 200)
    const body = await res.json() as Record<string, unknown>
    assert.equal(body.domain, 'api-test')
    assert.equal(body.peerId, d.peerId)
    assert.equal(body.liveMembers, 1, 'only this node is alive')
    assert.equal(body.status, 'degraded', 'a member is configured but none is alive')
    assert.deepEqual(body.members, { alive: 0, suspect: 0, dead: 1, total: 1 })
  })

  it('GET /mesh/v1/peers lists this node first and the configured members', async () => {
    const res = await fetch(`${base}/mesh/v1/peers`)
    assert.equal(res.status, 200)
    const body = await res.json() as { self: string, members: Array<{ peerId: string, self: boolean, state: string }>, dialing: unknown[] }
    assert.equal(body.self, d.peerId)
    assert.equal(body.members[0].self, true)
    assert.equal(body.members[0].peerId, d.peerId)
    assert.equal(body.members.length, 2)
    assert.equal(body.members[1].state, 'dead', 'a member never heard from is not alive')
  })

  it('a lone node logs its writes for later peers but gossips them to nobody', async () => {
    const peers = async (): Promise<{ published: number, unsent: number }> => (await (await fetch(`${base}/mesh/v1/peers`)).json() as { replication: { published: number, unsent: number } }).replication
    const before = await peers()
    const res = await fetch(`${base}/ngsi-ld/v1/entities`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 'urn:ngsi-ld:Room:alone', type: 'Room' }) })
    assert.equal(res.status, 201)
    const after = await peers()
    assert.equal(after.unsent, before.unsent + 1)
    assert.equal(after.published, before.published)
    assert.equal((await node.ngsi.store.logSince('api-test', node.ngsi.store.lastLocalSeq() - 1, 10)).length, 1, 'the change is in the log, for anti-entropy')
  })

  it('with replication.ownerInId, refuses a write that points an element whose id names this domain at another (400), in a batch per entity', async () => {
    const element = (n: number, domain: string) => ({ id: `urn:ngsi-ld:InfrastructureElement:api-test:${n}`, type: 'InfrastructureElement', domain: { type: 'Relationship', object: `urn:ngsi-ld:Domain:${domain}` } })
    const post = async (path: string, body: unknown): Promise<Response> => await fetch(`${base}/ngsi-ld/v1${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    const res = await post('/entities', element(1, 'other'))
    assert.equal(res.status, 400)
    const problem = await res.json() as { type: string, detail: string }
    assert.equal(problem.type, 'https://uri.etsi.org/ngsi-ld/errors/BadRequestData')
    assert.match(problem.detail, /belongs to domain api-test \(its id names it\)/)
    const batch = await post('/entityOperations/upsert', [element(2, 'api-test'), element(3, 'other')])
    assert.equal(batch.status, 207)
    const result = await batch.json() as { success: string[], errors: Array<{ entityId: string, error: { type: string } }> }
    assert.deepEqual(result.success, ['urn:ngsi-ld:InfrastructureElement:api-test:2'])
    assert.deepEqual(result.errors.map(e => [e.entityId, e.error.type]), [['urn:ngsi-ld:InfrastructureElement:api-test:3', 'https://uri.etsi.org/ngsi-ld/errors/BadRequestData']])
  })

  it('GET /mesh/v1/digest follows creates, updates and deletes, and equals a digest computed afresh', async () => {
    const E = `${base}/ngsi-ld/v1/entities`
    const send = async (method: string, url: string, body?: unknown): Promise<number> => (await fetch(url, { method, headers: body !== undefined ? { 'content-type': 'application/json' } : {}, body: body !== undefined ? JSON.stringify(body) : undefined })).status
    const get = async (): Promise<{ entities: number, entityHash: string }> => await (await fetch(`${base}/mesh/v1/digest`)).json() as { entities: number, entityHash: string }
    const fresh = async (): Promise<{ entities: number, entityHash: string }> => {
      // A second digest over the same store, starting from nothing (a full scan).
      const f = new NodeFederation({ store: node.ngsi.store, mesh: node.mesh, policy: {} as WritePolicy, log: memoryLogger().log }, { federation: 'test', forwardTimeoutMs: 1000 })
      try { return await f.digest() } finally { f.stop() }
    }
    const room = (n: number, t: number) => ({ id: `urn:ngsi-ld:Room:digest-${n}`, type: 'Room', temperature: { type: 'Property', value: t } })
    const first = await get()
    // From here on the node's digest looks only at the entities that changed: count full scans.
    const store = node.ngsi.store
    const scan = store.scan.bind(store)
    let scans = 0
    store.scan = (source) => { scans++; return scan(source) }
    for (let i = 0; i < 3; i++) assert.equal(await send('POST', E, room(i, i)), 201)
    const created = await get()
    assert.equal(scans, 0, 'the node did not scan every entity again')
    assert.equal(created.entities, first.entities + 3)
    assert.notEqual(created.entityHash, first.entityHash)
    const scanned = await fresh()
    assert.equal(created.entityHash, scanned.entityHash)
    assert.equal(created.entities, scanned.entities)
    assert.equal(await send('PATCH', `${E}/urn:ngsi-ld:Room:digest-1/attrs`, { temperature: { type: 'Property', value: 41 } }), 204)
    assert.equal(await send('DELETE', `${E}/urn:ngsi-ld:Room:digest-2`), 204)
    const changed = await get()
    assert.equal(scans, 1, 'only the fresh digest scanned')
    store.scan = scan
    assert.equal(changed.entities, first.entities + 2)
    const afresh = await fresh()
    assert.equal(changed.entityHash, afresh.entityHash)
    assert.equal(changed.entities, afresh.entities)
    // Back to the first state's entities: the same hash as then.
    assert.equal(await send('DELETE', `${E}/urn:ngsi-ld:Room:digest-0`), 204)
    assert.equal(await send('DELETE', `${E}/urn:ngsi-ld:Room:digest-1`), 204)
    assert.equal((await get()).entityHash, first.entityHash)
  })

  it('the digest drops its per-entity hashes when idle or far behind, and scans again next time', async () => {
    const store = node.ngsi.store
    const fed = (init: { digestIdleMs?: number, digestDirtyMin?: number }): NodeFederation =>
      new NodeFederation({ store, mesh: node.mesh, policy: {} as WritePolicy, log: memoryLogger().log }, { federation: 'test', forwardTimeoutMs: 1000, ...init })
    const batch = async (op: string, body: unknown): Promise<number> => (await fetch(`${base}/ngsi-ld/v1/entityOperations/${op}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).status
    const scan = store.scan.bind(store)
    let scans = 0
    store.scan = (source) => { scans++; return scan(source) }
    const idle = fed({ digestIdleMs: 20 })
    const behind = fed({ digestDirtyMin: 2 })
    const fresh = fed({})
    try {
      const held = (await idle.digest()).entities
      await behind.digest()
      assert.equal(scans, 2)
      // A few changes, soon after the last digest: both keep their hashes.
      assert.equal(await batch('create', [{ id: 'urn:ngsi-ld:Room:idle-0', type: 'Room' }]), 201)
      await idle.digest()
      await behind.digest()
      assert.equal(scans, 2, 'no scan for one change')
      // More changes than the digest holds hashes for: `behind` drops them.
      const rooms = Array.from({ length: held + 3 }, (_, i) => ({ id: `urn:ngsi-ld:Room:behind-${i}`, type: 'Room' }))
      assert.equal(await batch('create', rooms), 201)
      const b = await behind.digest()
      assert.equal(scans, 3, 'the digest that fell behind scanned again')
      // No digest asked for longer than digestIdleMs, then a change: `idle` drops them.
      await new Promise(resolve => setTimeout(resolve, 50))
      assert.equal(await batch('delete', rooms.map(r => r.id).concat('urn:ngsi-ld:Room:idle-0')), 204)
      const i = await idle.digest()
      assert.equal(scans, 4, 'the idle digest scanned again')
      assert.equal(b.entities, held + held + 4)
      const now = await fresh.digest()
      assert.equal(i.entityHash, now.entityHash)
      assert.equal(i.entities, held)
      // and what `behind` computes from here on still agrees
      assert.equal((await behind.digest()).entityHash, now.entityHash)
    } finally {
      store.scan = scan
      for (const f of [idle, behind, fresh]) f.stop()
    }
  })

  it('serves the OpenAPI document at /docs/json and the UI at /docs', async () => {
    const doc = await (await fetch(`${base}/docs/json`)).json() as { openapi: string, paths: Record<string, unknown> }
    assert.match(doc.openapi, /^3\./)
    assert.ok('/health' in doc.paths && '/mesh/v1/peers' in doc.paths)
    const ui = await fetch(`${base}/docs`, { redirect: 'follow' })
    assert.equal(ui.status, 200)
    assert.match(await ui.text(), /swagger/i)
  })

  it('answers unknown routes with a 404 ProblemDetails', async () => {
    const res = await fetch(`${base}/nope`)
    assert.equal(res.status, 404)
    assert.equal(res.headers.get('content-type'), 'application/problem+json; charset=utf-8')
    const p = await res.json() as Record<string, unknown>
    assert.equal(p.status, 404)
    assert.equal(p.type, 'urn:cmesh:error:NOT_FOUND')
    assert.equal(p.detail, 'no route for GET /nope')
  })
})

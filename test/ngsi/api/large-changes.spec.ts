import { strict as assert } from 'node:assert'
import type { ContinuumNode } from '../../../src/node.ts'
import { MAX_CHANGE_BYTES, MAX_RECORD_BYTES } from '../../../src/ngsi/store/store.ts'
import type { AttrWrite } from '../../../src/ngsi/store/index.ts'
import { cleanup, nodeFor, prepareDomain } from '../../helpers/index.ts'

const P = '/ngsi-ld/v1'
const ETSI_INVALID = 'https://uri.etsi.org/ngsi-ld/errors/InvalidRequest'
const room = (n: number, blob = '') => ({ id: `urn:ngsi-ld:Room:large-${n}`, type: 'Room', note: { type: 'Property', value: blob === '' ? `room ${n}` : blob } })

/**
 * A write whose change could not reach the other domains (larger than a sync frame takes once
 * escaped), or that would make an entity too large for a snapshot frame, is refused with 413
 * before anything is written, even when api.bodyLimit lets the request in; in a batch, for that
 * entity only.
 */
describe('NGSI-LD API: changes too large to replicate', function () {
  this.timeout(30_000)
  let node: ContinuumNode
  // 1.5 MiB of quotes, each escaped in the change's JSON: over 3 MiB there.
  const huge = '"'.repeat(MAX_CHANGE_BYTES / 2)

  before(async () => {
    const d = await prepareDomain('large-changes')
    node = nodeFor(d, { members: [], config: { api: { host: '127.0.0.1', port: d.apiPort, bodyLimit: 16 * 1024 * 1024 } } })
    await node.start()
  })

  after(cleanup)

  async function send (method: string, path: string, body: unknown): Promise<{ status: number, body: any }> {
    const res = await fetch(`${node.apiUrl}${P}${path}`, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    const text = await res.text()
    return { status: res.status, body: text === '' ? null : JSON.parse(text) }
  }

  it('refuses a create or an update whose change is over the bound (413), writing nothing', async () => {
    const seq = node.ngsi.store.lastLocalSeq()
    const created = await send('POST', '/entities', room(1, huge))
    assert.equal(created.status, 413)
    assert.equal(created.body.type, ETSI_INVALID)
    assert.match(created.body.detail, /can be replicated/)
    assert.equal((await fetch(`${node.apiUrl}${P}/entities/urn:ngsi-ld:Room:large-1`)).status, 404)
    assert.equal((await send('POST', '/entities', room(2))).status, 201)
    assert.equal((await send('PATCH', '/entities/urn:ngsi-ld:Room:large-2/attrs', { note: { type: 'Property', value: huge } })).status, 413)
    assert.equal((await fetch(`${node.apiUrl}${P}/entities/urn:ngsi-ld:Room:large-2`).then(async r => await r.json()) as { note: { value: string } }).note.value, 'room 2')
    // One change was written (the small create): sequence numbers stay gap-free.
    assert.equal(node.ngsi.store.lastLocalSeq(), seq + 1)
    assert.equal((await node.ngsi.store.logSince('large-changes', seq, 10)).length, 1)
  })

  it('in a batch, refuses that entity alone (207) and writes the others', async () => {
    const seq = node.ngsi.store.lastLocalSeq()
    const res = await send('POST', '/entityOperations/upsert', [room(3), room(4, huge), room(5)])
    assert.equal(res.status, 207)
    assert.deepEqual(res.body.success, ['urn:ngsi-ld:Room:large-3', 'urn:ngsi-ld:Room:large-5'])
    assert.deepEqual(res.body.errors.map((e: { entityId: string, error: { status: number, type: string } }) => [e.entityId, e.error.status, e.error.type]), [['urn:ngsi-ld:Room:large-4', 413, ETSI_INVALID]])
    assert.equal(node.ngsi.store.lastLocalSeq(), seq + 2)
    const log = await node.ngsi.store.logSince('large-changes', seq, 10)
    assert.deepEqual(log.flatMap(e => (JSON.parse(e.d) as { c: Array<{ id: string, n: number }> }).c.map(c => [c.id, c.n])), [['urn:ngsi-ld:Room:large-3', seq + 1], ['urn:ngsi-ld:Room:large-5', seq + 2]])
  })

  it('takes a large change under the bound', async () => {
    assert.equal((await send('POST', '/entities', room(6, 'x'.repeat(MAX_CHANGE_BYTES - 4096)))).status, 201)
  })

  it('refuses a write that would make the entity larger than a snapshot can send (413), writing nothing', async () => {
    const part = 'y'.repeat(Math.floor(MAX_RECORD_BYTES / 3))
    const path = '/entities/urn:ngsi-ld:Room:large-6/attrs'
    assert.equal((await send('POST', path, { a: { type: 'Property', value: part } })).status, 204)
    const seq = node.ngsi.store.lastLocalSeq()
    const res = await send('POST', path, { b: { type: 'Property', value: part } })
    assert.equal(res.status, 413)
    assert.match(res.body.detail, /entity urn:ngsi-ld:Room:large-6 with this write would be \d+ bytes/)
    assert.equal(node.ngsi.store.lastLocalSeq(), seq)
    const held = await fetch(`${node.apiUrl}${P}/entities/urn:ngsi-ld:Room:large-6`).then(async r => await r.json()) as Record<string, unknown>
    assert.ok('a' in held && !('b' in held))
    // Replacing the large value with a small one is still possible.
    assert.equal((await send('PATCH', path, { note: { type: 'Property', value: 'small' } })).status, 204)
  })

  it('always deletes, even an entity already over the bound (grown by several domains, or written before the bound)', async () => {
    // Another domain's changes are merged as they come: here, one that makes a 9 MiB entity.
    const id = 'urn:ngsi-ld:Room:large-remote'
    const h = `${String(Date.now()).padStart(16, '0')}-00000`
    const big = (name: string): AttrWrite => [`https://uri.etsi.org/ngsi-ld/default-context/${name}`, '@none', { type: 'Property', value: 'r'.repeat(3 * 1024 * 1024) }]
    await node.ngsi.store.applyRemote([{ id, o: 'other-domain', n: 1, h, c: 1, t: ['https://uri.etsi.org/ngsi-ld/default-context/Room'], a: [big('a'), big('b'), big('c')] }])
    assert.equal((await fetch(`${node.apiUrl}${P}/entities/${id}`)).status, 200)
    assert.equal((await send('POST', `/entities/${id}/attrs`, { d: { type: 'Property', value: 1 } })).status, 413, 'adding to it is refused')
    assert.equal((await fetch(`${node.apiUrl}${P}/entities/${id}/attrs/a`, { method: 'DELETE' })).status, 204)
    assert.equal((await fetch(`${node.apiUrl}${P}/entities/${id}`, { method: 'DELETE' })).status, 204)
    assert.equal((await fetch(`${node.apiUrl}${P}/entities/${id}`)).status, 404)
  })
})

import { strict as assert } from 'node:assert'
import { cp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { Level } from 'level'
import type { ContinuumNode } from '../../src/node.ts'
import { entityKey, logKey, metaKey, watermarkKey } from '../../src/ngsi/store/keys.ts'
import { api, cleanup, digest, nodeFor, prepareDomain, tempDir, waitFor, type TestDomain } from '../helpers/index.ts'

const E = '/ngsi-ld/v1/entities'
const room = (id: string, temp: number): Record<string, unknown> => ({ id, type: 'Room', temperature: { type: 'Property', value: temp } })

/**
 * A domain gossips a group of local changes while LevelDB fsyncs it (the client is answered only
 * after the fsync). A machine crash in that window can leave peers holding changes the origin's
 * disk lost. This proves the recovery: the origin never reuses those sequence numbers, takes its
 * lost changes back from peers, skips the numbers nobody has, and the domains converge.
 */
describe('replication: recovery of a domain\'s own changes lost in an unclean shutdown', function () {
  this.timeout(60_000)
  let a: TestDomain, b: TestDomain
  let A: ContinuumNode, B: ContinuumNode
  const opts = (): { members: TestDomain[], config: Record<string, unknown> } => ({
    members: [a, b],
    config: { replication: { syncIntervalMs: 300, recoveryTimeoutMs: 5000 } }
  })

  before(async () => {
    [a, b] = await Promise.all(['domain-a', 'domain-b'].map(prepareDomain))
    A = nodeFor(a, opts())
    B = nodeFor(b, { ...opts(), bootstrap: [a] })
    await A.start()
    await B.start()
    await waitFor(() => [A, B].every(n => n.mesh.membership.alivePeers().length === 1), 'the two domains to see each other')
  })

  after(cleanup)

  it('takes back from a peer the change its disk lost, skips the numbers nobody has, and never reuses one', async () => {
    assert.equal((await api(A, 'POST', E, room('urn:ngsi-ld:Room:kept', 1))).status, 201)
    assert.equal((await api(A, 'POST', E, room('urn:ngsi-ld:Room:lost', 2))).status, 201)
    await waitFor(async () => (await api(B, 'GET', `${E}/urn:ngsi-ld:Room:lost`)).status === 200, 'B to receive both writes')
    const last = (await digest(A)).versionVector['domain-a']
    await A.stop()

    // The crash, as the disk saw it: the last group never made it (its log entry, the record it
    // created, the watermark), while the reservation written before it did. B holds the change.
    const db = new Level<string, string>(join(a.dataDir, 'db'), { valueEncoding: 'utf8' })
    await db.open()
    const logged = JSON.parse(JSON.parse(await db.get(logKey('domain-a', last)) as string).d) as { f: number, c: Array<{ id: string }> }
    assert.deepEqual([logged.f, logged.c.map(c => c.id)], [last, ['urn:ngsi-ld:Room:lost']], 'the last change is the one to lose')
    const reserved = last + 20
    await db.batch([
      { type: 'del', key: logKey('domain-a', last) },
      { type: 'del', key: entityKey('urn:ngsi-ld:Room:lost') },
      { type: 'put', key: watermarkKey('domain-a'), value: String(last - 1) },
      { type: 'put', key: metaKey('reserved'), value: String(reserved) }
    ], { sync: true })
    await db.close()

    A = nodeFor(a, opts())
    await A.start()
    // Back from B by anti-entropy: A's own change, under A's own signature.
    const back = await waitFor(async () => { const r = await api(A, 'GET', `${E}/urn:ngsi-ld:Room:lost`); return r.status === 200 ? r.body : null }, 'A to take its lost change back from B')
    assert.equal(back.temperature.value, 2)
    // The numbers after it up to the reservation: nobody has them; A skips them, and B follows.
    await waitFor(async () => (await digest(A)).versionVector['domain-a'] === reserved, 'A to skip the numbers nobody has', 15_000)
    await waitFor(async () => (await digest(B)).versionVector['domain-a'] === reserved, 'B to receive the skip')

    // New writes continue after the reservation: B applies them (no number was reused).
    assert.equal((await api(A, 'POST', E, room('urn:ngsi-ld:Room:after', 3))).status, 201)
    await waitFor(async () => (await api(B, 'GET', `${E}/urn:ngsi-ld:Room:after`)).status === 200, 'B to receive the next write')
    await waitFor(async () => {
      const [dA, dB] = await Promise.all([digest(A), digest(B)])
      return dA.entityHash === dB.entityHash && dB.versionVector['domain-a'] === reserved + 1 && dA.versionVector['domain-a'] === reserved + 1
    }, 'equal digests and version vectors')
    const peers = await api(B, 'GET', '/mesh/v1/peers')
    const fromA = (peers.body.members as Array<{ peerId: string, rejects: number }>).find(m => m.peerId === a.peerId)
    assert.equal(fromA?.rejects, 0, 'B rejected nothing of A\'s')
  })

  it('restored from an older copy (--restored), gets its later changes back and numbers new ones past them', async () => {
    assert.equal((await api(A, 'POST', E, room('urn:ngsi-ld:Room:in-copy', 10))).status, 201)
    await waitFor(async () => (await api(B, 'GET', `${E}/urn:ngsi-ld:Room:in-copy`)).status === 200, 'B to receive the write before the copy')
    await A.stop()
    const copy = await tempDir('cmesh-copy-')
    await cp(join(a.dataDir, 'db'), join(copy, 'db'), { recursive: true })
    A = nodeFor(a, opts())
    await A.start()
    for (let i = 1; i <= 3; i++) assert.equal((await api(A, 'POST', E, room(`urn:ngsi-ld:Room:after-copy-${i}`, 10 + i))).status, 201)
    // B holds every change A made since the copy (the copy is all A will have of them).
    await waitFor(() => B.ngsi.store.versionVector()['domain-a'] === A.ngsi.store.lastLocalSeq(), 'B to hold all of A\'s changes after the copy')
    await A.stop()
    await rm(join(a.dataDir, 'db'), { recursive: true })
    await cp(join(copy, 'db'), join(a.dataDir, 'db'), { recursive: true })

    A = nodeFor(a, { ...opts(), restored: true })
    await A.start()
    for (let i = 1; i <= 3; i++) {
      await waitFor(async () => (await api(A, 'GET', `${E}/urn:ngsi-ld:Room:after-copy-${i}`)).status === 200, `A to get after-copy-${i} back from B`)
    }
    assert.equal((await api(A, 'POST', E, room('urn:ngsi-ld:Room:after-restore', 20))).status, 201)
    await waitFor(async () => (await api(B, 'GET', `${E}/urn:ngsi-ld:Room:after-restore`)).status === 200, 'B to receive the first write after the restore (its number is new)')
    await waitFor(async () => {
      const [dA, dB] = await Promise.all([digest(A), digest(B)])
      return dA.entityHash === dB.entityHash && dA.versionVector['domain-a'] === dB.versionVector['domain-a']
    }, 'equal digests and version vectors', 15_000)
  })
})

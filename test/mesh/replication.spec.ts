import { strict as assert } from 'node:assert'
import type { ContinuumNode } from '../../src/node.ts'
import { createSigner, loadOrCreateDomainKey } from '../../identity/index.ts'
import { peerIdFromString } from '@libp2p/peer-id'
import { entitiesTopic, JsonFrames, SYNC_PAGE, syncProtocol } from '../../mesh/index.ts'
import { api, cleanup, digest, nodeFor, prepareDomain, waitFor, type TestDomain } from '../helpers/index.ts'

const E = '/ngsi-ld/v1/entities'
const WAIT_MS = 8000
const MAX_WAITING = 3
const MAX_WAITING_BYTES = 8192
const CPU = 'https://uri.etsi.org/ngsi-ld/default-context/cpuCores'
const ROOM = 'https://uri.etsi.org/ngsi-ld/default-context/Room'
const room = (id: string, temp: number) => ({ id, type: 'Room', temperature: { type: 'Property', value: temp } })
const ie = (domain: string, n: number) => ({
  id: `urn:ngsi-ld:InfrastructureElement:${domain}:${n}`,
  type: 'InfrastructureElement',
  cpuCores: { type: 'Property', value: 4 },
  domain: { type: 'Relationship', object: `urn:ngsi-ld:Domain:${domain}` }
})

async function converged (nodes: ContinuumNode[]): Promise<boolean> {
  const ds = await Promise.all(nodes.map(digest))
  return ds.every(d => d.entityHash === ds[0].entityHash)
}

function rejectsOf (node: ContinuumNode, peerId: string): number {
  const member = node.mesh.membership.table().find(m => m.peerId === peerId)
  if (member != null) return member.rejects
  return node.mesh.membership.listStrangers().find(s => s.peerId === peerId)?.rejects ?? 0
}

/**
 * Replication between real nodes over libp2p on 127.0.0.1 (the fault tests with network
 * namespaces are in test/federation/): gossip, anti-entropy after downtime, the write policy
 * with forwarding to the owner, and forged or malformed gossip from a member.
 */
describe('replication between domains', function () {
  this.timeout(90_000)
  let a: TestDomain, b: TestDomain, c: TestDomain
  let A: ContinuumNode, B: ContinuumNode, C: ContinuumNode

  before(async () => {
    [a, b, c] = await Promise.all(['domain-a', 'domain-b', 'domain-c'].map(prepareDomain))
    A = nodeFor(a, { members: [b, c] })
    B = nodeFor(b, { members: [a, c], bootstrap: [a] })
    C = nodeFor(c, { members: [a, b], bootstrap: [a, b] })
    await A.start()
    await Promise.all([B.start(), C.start()])
    await waitFor(() => [A, B, C].every(n => n.mesh.membership.alivePeers().length === 2), 'the three domains to see each other')
  })

  after(cleanup)

  it('a write at one domain is readable at the others, with its owner and writer', async () => {
    assert.equal((await api(A, 'POST', E, room('urn:ngsi-ld:Room:r1', 20))).status, 201)
    const got = await waitFor(async () => { const r = await api(C, 'GET', `${E}/urn:ngsi-ld:Room:r1?options=sysAttrs`); return r.status === 200 ? r.body : null }, 'C to see Room r1')
    assert.equal(got.ownerDomain, 'domain-a')
    assert.equal(got.temperature.writerDomain, 'domain-a')
    assert.equal(got.temperature.value, 20)
    // Any member may write shared types: B updates, A and C see B as the writer.
    // (a float: the digest hashes any JSON value)
    assert.equal((await api(B, 'PATCH', `${E}/urn:ngsi-ld:Room:r1/attrs`, { temperature: { type: 'Property', value: 21.5 } })).status, 204)
    await waitFor(async () => (await api(A, 'GET', `${E}/urn:ngsi-ld:Room:r1?options=sysAttrs`)).body?.temperature?.writerDomain === 'domain-b', 'A to see B\'s update')
    await waitFor(async () => await converged([A, B, C]), 'equal digests')
  })

  it('forwards a write to an entity another domain owns, and the owner carries it out', async () => {
    assert.equal((await api(A, 'POST', E, ie('domain-a', 1))).status, 201)
    await waitFor(async () => (await api(B, 'GET', `${E}/urn:ngsi-ld:InfrastructureElement:domain-a:1`)).status === 200, 'B to see A\'s IE')
    const res = await api(B, 'PATCH', `${E}/urn:ngsi-ld:InfrastructureElement:domain-a:1/attrs`, { cpuCores: { type: 'Property', value: 8 } })
    assert.equal(res.status, 204)
    assert.equal(res.headers.get('x-cmesh-forwarded-by'), 'domain-a')
    // B reads its own write at once (it waited for A's change), and A's is the last writer.
    const atB = await api(B, 'GET', `${E}/urn:ngsi-ld:InfrastructureElement:domain-a:1?options=sysAttrs`)
    assert.equal(atB.body.cpuCores.value, 8)
    assert.equal(atB.body.cpuCores.writerDomain, 'domain-a')
    // Creating an IE for another domain goes to that domain as well.
    const created = await api(C, 'POST', E, ie('domain-b', 7))
    assert.equal(created.status, 201)
    assert.equal(created.headers.get('x-cmesh-forwarded-by'), 'domain-b')
    assert.equal((await api(C, 'GET', `${E}/urn:ngsi-ld:InfrastructureElement:domain-b:7?options=sysAttrs`)).body.ownerDomain, 'domain-b')
  })

  it('splits a batch by owner and merges the owners\' results', async () => {
    const res = await api(C, 'POST', '/ngsi-ld/v1/entityOperations/upsert', [ie('domain-c', 1), ie('domain-a', 2), room('urn:ngsi-ld:Room:r2', 5)])
    assert.equal(res.status, 201, JSON.stringify(res.body))
    assert.deepEqual([...res.body].sort(), ['urn:ngsi-ld:InfrastructureElement:domain-a:2', 'urn:ngsi-ld:InfrastructureElement:domain-c:1', 'urn:ngsi-ld:Room:r2'])
    const ownerAtA = async (id: string): Promise<string | undefined> => (await api(A, 'GET', `${E}/urn:ngsi-ld:InfrastructureElement:${id}?options=sysAttrs`)).body?.ownerDomain
    await waitFor(async () => await ownerAtA('domain-c:1') === 'domain-c', 'A to see C\'s IE, owned by C')
    assert.equal(await ownerAtA('domain-a:2'), 'domain-a', 'A carried out its part itself')
  })

  it('answers 503 and writes nothing when the owner is unreachable', async () => {
    await A.stop()
    await waitFor(() => B.mesh.membership.table().find(m => m.peerId === a.peerId)?.state !== 'alive', 'B to notice A is gone')
    const res = await api(B, 'PATCH', `${E}/urn:ngsi-ld:InfrastructureElement:domain-a:1/attrs`, { cpuCores: { type: 'Property', value: 16 } })
    assert.equal(res.status, 503)
    assert.match(res.body.detail, /domain-a.*nothing was written/)
    assert.equal((await api(B, 'GET', `${E}/urn:ngsi-ld:InfrastructureElement:domain-a:1`)).body.cpuCores.value, 8)
    A = nodeFor(a, { members: [b, c] })
    await A.start()
  })

  it('catches up by anti-entropy after missing writes while down', async () => {
    await C.stop()
    for (let i = 0; i < 40; i++) await api(i % 2 === 0 ? A : B, 'POST', E, room(`urn:ngsi-ld:Room:down-${i}`, i))
    assert.equal((await api(A, 'POST', '/ngsi-ld/v1/entityOperations/upsert', Array.from({ length: 200 }, (_, i) => room(`urn:ngsi-ld:Room:bulk-${i}`, i)))).status, 201)
    // B updates rooms A created: C may get B's updates (typeless) before A's creations, and then
    // holds them until the creations are there.
    await waitFor(async () => (await api(B, 'GET', `${E}/urn:ngsi-ld:Room:bulk-199`)).status === 200, 'B to hold A\'s rooms')
    for (let i = 0; i < 200; i += 20) assert.equal((await api(B, 'PATCH', `${E}/urn:ngsi-ld:Room:bulk-${i}/attrs`, { temperature: { type: 'Property', value: 1000 + i } })).status, 204)
    C = nodeFor(c, { members: [a, b], bootstrap: [a, b] })
    await C.start()
    await waitFor(async () => await converged([A, B, C]), 'C to catch up (equal digests)', 30_000)
    const d = await digest(C)
    assert.ok(d.entities >= 244)
    const dA = await digest(A)
    assert.deepEqual(d.versionVector, dA.versionVector)
    for (let i = 0; i < 200; i += 20) assert.equal((await api(C, 'GET', `${E}/urn:ngsi-ld:Room:bulk-${i}`)).body.temperature.value, 1000 + i)
    assert.equal(C.mesh.replicator?.stats.waiting, 0)
  })

  it('catches up a backlog of many megabytes, streamed in rounds larger than one frame', async () => {
    await C.stop()
    // 16 MB of changes: more than a sync frame (8 MiB), so a round arrives as several frames
    // that pile up while C applies the first ones.
    const blob = 'x'.repeat(4000)
    const before = A.ngsi.store.versionVector()
    for (let b = 0; b < 16; b++) {
      const body = Array.from({ length: 250 }, (_, i) => ({ ...room(`urn:ngsi-ld:Room:big-${b}-${i}`, i), note: { type: 'Property', value: blob } }))
      assert.equal((await api(A, 'POST', '/ngsi-ld/v1/entityOperations/upsert', body)).status, 201)
    }
    C = nodeFor(c, { members: [a, b], bootstrap: [a, b] })
    await C.start()
    await waitFor(async () => await converged([A, B, C]), 'C to catch up 16 MB (equal digests)', 60_000)
    const peers = (await api(C, 'GET', '/mesh/v1/peers')).body as { members: Array<{ sync?: { lastError: string | null } }> }
    assert.deepEqual(peers.members.map(m => m.sync?.lastError ?? null).filter(e => e != null), [], 'no anti-entropy errors')
    // One round of those 16 MB as A serves it, asked for by C directly: all of it in two frames,
    // or, when C asks for rounds of at most 1 byte, the first frame alone and "more".
    const round = async (max?: number): Promise<{ frames: number, envelopes: number, more: boolean }> => {
      const stream = await C.mesh.libp2p.dialProtocol(peerIdFromString(a.peerId), syncProtocol('test'))
      const frames = new JsonFrames(stream, 8 * 1024 * 1024, 64 * 1024 * 1024)
      await frames.write({ vv: before, ...(max != null ? { max } : {}) })
      const got = { frames: 0, envelopes: 0, more: false }
      for (;;) {
        const { message } = await frames.read<{ e?: unknown[], done?: boolean, more?: boolean }>()
        if (message.done === true) { await frames.close(); return { ...got, more: message.more === true } }
        if (Array.isArray(message.e)) { got.frames++; got.envelopes += message.e.length }
      }
    }
    const whole = await round()
    assert.ok(whole.frames >= 2 && !whole.more, `whole: ${JSON.stringify(whole)}`)
    const first = await round(1)
    assert.deepEqual({ frames: first.frames, more: first.more }, { frames: 1, more: true })
    assert.ok(first.envelopes < whole.envelopes)
  })

  it('applies a backlog of several frames in order: an entity created in one frame and changed in a later one never waits', async () => {
    await C.stop()
    // One envelope per write, a frame holds at most SYNC_PAGE envelopes: the creations fill more
    // than one frame, and the changes to them (typeless, so judged by the entity they change)
    // come in later frames.
    const n = SYNC_PAGE + 20
    const id = (i: number): string => `urn:ngsi-ld:InfrastructureElement:domain-a:${1000 + i}`
    for (let i = 0; i < n; i++) assert.equal((await api(A, 'POST', E, ie('domain-a', 1000 + i))).status, 201)
    for (let i = 0; i < n; i++) assert.equal((await api(A, 'PATCH', `${E}/${id(i)}/attrs`, { cpuCores: { type: 'Property', value: 1000 + i } })).status, 204)
    // Past gossipsub's window for advertising recent messages (3 heartbeats of 1 s): C gets them
    // all by anti-entropy, in log order.
    await new Promise(resolve => setTimeout(resolve, 5000))
    C = nodeFor(c, { members: [a, b], bootstrap: [a, b] })
    await C.start()
    await waitFor(async () => await converged([A, B, C]), 'C to catch up (equal digests)', 60_000)
    for (const i of [0, SYNC_PAGE - 1, SYNC_PAGE, n - 1]) {
      const got = await api(C, 'GET', `${E}/${id(i)}?options=sysAttrs`)
      assert.equal(got.body.cpuCores.value, 1000 + i)
      assert.equal(got.body.ownerDomain, 'domain-a')
    }
    const stats = C.mesh.replicator?.stats
    assert.equal(stats?.waited, 0, 'no change waited for its entity')
    assert.ok((stats?.syncApplied ?? 0) >= 2 * n, `all ${2 * n} changes came by anti-entropy (${stats?.syncApplied})`)
  })

  it('falls back to a snapshot when the others compacted their logs past what a domain has', async () => {
    await C.stop()
    for (let i = 0; i < 30; i++) await api(i % 2 === 0 ? A : B, 'POST', E, room(`urn:ngsi-ld:Room:snap-${i}`, i))
    assert.equal((await api(A, 'DELETE', `${E}/urn:ngsi-ld:Room:snap-0`)).status, 204)
    await waitFor(async () => await converged([A, B]), 'A and B to agree')
    // Retention 0: every envelope (and tombstone) received so far is compacted away.
    const compactedA = await A.compactNow(0)
    const compactedB = await B.compactNow(0)
    assert.ok(compactedA.envelopes > 0 && compactedB.envelopes > 0, 'the logs were compacted')
    assert.ok(A.ngsi.store.logFloor('domain-a') > 0)
    C = nodeFor(c, { members: [a, b], bootstrap: [a, b] })
    await C.start()
    await waitFor(async () => await converged([A, B, C]), 'C to catch up from a snapshot', 30_000)
    assert.equal((await api(C, 'GET', `${E}/urn:ngsi-ld:Room:snap-29`)).status, 200)
    assert.equal((await api(C, 'GET', `${E}/urn:ngsi-ld:Room:snap-0`)).status, 404, 'the delete arrived too')
    // The records come first, the range they cover last (the digests can be equal in between).
    await waitFor(async () => (await digest(C)).versionVector['domain-a'] >= A.ngsi.store.logFloor('domain-a'), 'C\'s log position to move past the compacted range')
  })

  it('sends a snapshot of records larger in all than a sync frame in several frames', async () => {
    await C.stop()
    // 10 MB of records (20 of 500 KB), more than one frame (8 MiB) though less than one page.
    const blob = 'z'.repeat(500_000)
    for (let i = 0; i < 20; i++) assert.equal((await api(A, 'POST', E, { ...room(`urn:ngsi-ld:Room:bigsnap-${i}`, i), note: { type: 'Property', value: blob } })).status, 201)
    await waitFor(async () => await converged([A, B]), 'A and B to agree')
    await A.compactNow(0)
    await B.compactNow(0)
    C = nodeFor(c, { members: [a, b], bootstrap: [a, b] })
    await C.start()
    await waitFor(async () => await converged([A, B, C]), 'C to catch up from a snapshot of 10 MB of records', 60_000)
    const peers = (await api(C, 'GET', '/mesh/v1/peers')).body as { members: Array<{ sync?: { lastError: string | null } }> }
    assert.deepEqual(peers.members.map(m => m.sync?.lastError ?? null).filter(e => e != null), [], 'no anti-entropy errors')
  })

  describe('forged and malformed gossip from a member', () => {
    let m: TestDomain, k: TestDomain
    let M: ContinuumNode
    let signer: ReturnType<typeof createSigner>

    before(async () => {
      m = await prepareDomain('domain-m')
      // K joins later, to pull from A in small rounds (see the anti-entropy test below).
      k = await prepareDomain('domain-k')
      signer = createSigner((await loadOrCreateDomainKey(m.dataDir)).privateKey)
      // M is a member for A (so A connects to it and hears it), but not for B or C.
      await A.stop()
      // A judges a change still waiting for its entity after 8 s as things stand (default 60 s).
      A = nodeFor(a, { members: [b, c, m, k], config: { replication: { syncIntervalMs: 300, waitTimeoutMs: WAIT_MS, maxWaiting: MAX_WAITING, maxWaitingBytes: MAX_WAITING_BYTES } } })
      await A.start()
      M = nodeFor(m, { members: [a], bootstrap: [a] })
      await M.start()
      await waitFor(() => A.mesh.membership.table().find(r => r.peerId === m.peerId)?.state === 'alive', 'A to hear M')
      await waitFor(() => (A.mesh.libp2p.services.pubsub.getSubscribers(entitiesTopic('test')).some(p => p.toString() === m.peerId)), 'M to subscribe')
      // M publishes its own Domain entity at start: let it arrive before digests are compared.
      await waitFor(async () => (await A.ngsi.store.get('urn:ngsi-ld:Domain:domain-m')) != null, 'A to hold M\'s Domain entity')
    })

    const publish = async (body: unknown): Promise<void> => {
      const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : new TextEncoder().encode(JSON.stringify(body))
      await M.mesh.libp2p.services.pubsub.publish(entitiesTopic('test'), bytes)
    }
    /**
     * Publishes again each second until A has seen it: right after refusals, A's gossipsub may
     * ignore M for a while (its score), and a message it never sees proves nothing.
     */
    const publishUntil = async (msg: unknown, seen: () => boolean, what: string): Promise<void> => {
      await waitFor(async () => {
        if (seen()) return true
        await publish(msg)
        return false
      }, what, 30_000, 1000)
    }
    const envelope = (origin: string, n: number, changes: unknown[]) => {
      const d = JSON.stringify({ o: origin, p: m.peerId, f: n, t: n + changes.length - 1, c: changes })
      return { d, s: Buffer.from(signer.sign(Buffer.from(d))).toString('base64') }
    }
    const change = (id: string, origin: string, n: number, extra: Record<string, unknown>) => ({ id, o: origin, n, h: `${String(Date.now()).padStart(16, '0')}-00000`, ...extra })

    const cases: Array<[string, () => unknown]> = [
      ['an envelope claiming another domain as origin', () => ({ v: 1, e: [envelope('domain-a', 900, [change('urn:ngsi-ld:Room:forged', 'domain-a', 900, { c: 1, t: ['https://x/T'] })])] })],
      ['a change to an entity another domain owns', () => ({ v: 1, e: [envelope('domain-m', 1, [change('urn:ngsi-ld:InfrastructureElement:domain-a:1', 'domain-m', 1, { a: [['https://uri.etsi.org/ngsi-ld/default-context/cpuCores', '@none', { type: 'Property', value: 1 }]] })])] })],
      ['a change with a bad schema', () => ({ v: 1, e: [envelope('domain-m', 2, [change('not a uri', 'domain-m', 2, { t: 'Room' })])] })],
      ['a bad signature', () => { const e = envelope('domain-m', 3, [change('urn:ngsi-ld:Room:sig', 'domain-m', 3, { c: 1, t: ['https://x/T'] })]); return { v: 1, e: [{ d: e.d, s: Buffer.alloc(64).toString('base64') }] } }],
      ['a body that is not JSON', () => '{not json'],
      ['an oversized message', () => ({ v: 1, e: [envelope('domain-m', 4, [change('urn:ngsi-ld:Room:big', 'domain-m', 4, { c: 1, t: ['https://x/T'], a: [['https://x/blob', '@none', { type: 'Property', value: 'x'.repeat(1_100_000) }]] })])] })]
    ]

    for (const [what, make] of cases) {
      it(`rejects and counts ${what}, and it changes nothing`, async () => {
        const before = rejectsOf(A, m.peerId)
        const digestBefore = await digest(A)
        await publish(make())
        await waitFor(() => rejectsOf(A, m.peerId) > before, `A to count the reject (${what})`)
        assert.equal((await digest(A)).entityHash, digestBefore.entityHash)
      })
    }

    it('an envelope a member signs for another domain does not make the others skip that domain\'s numbers', async () => {
      const next = B.ngsi.store.lastLocalSeq() + 1
      const before = rejectsOf(A, m.peerId)
      const forged = { v: 1, e: [envelope('domain-b', next, [change('urn:ngsi-ld:Room:forged-b', 'domain-b', next, { c: 1, t: ['https://x/T'] })])] }
      await publishUntil(forged, () => rejectsOf(A, m.peerId) > before, 'A to count the reject')
      // B's real change with that number still arrives (gossip; the skip would have hidden it).
      assert.equal((await api(B, 'POST', E, room('urn:ngsi-ld:Room:real-b', 5))).status, 201)
      assert.equal(B.ngsi.store.lastLocalSeq(), next)
      await waitFor(async () => (await api(A, 'GET', `${E}/urn:ngsi-ld:Room:real-b`)).status === 200, 'A to receive B\'s change with that number')
      assert.equal((await api(A, 'GET', `${E}/urn:ngsi-ld:Room:forged-b`)).status, 404)
    })

    it('counts a replayed envelope and applies it only once', async () => {
      // Sequence numbers 1–4 were used (and refused) above.
      const msg = { v: 1, e: [envelope('domain-m', 10, [change('urn:ngsi-ld:Room:from-m', 'domain-m', 10, { c: 1, t: ['https://uri.etsi.org/ngsi-ld/default-context/Room'] })])] }
      await publish(msg)
      await waitFor(async () => (await api(A, 'GET', `${E}/urn:ngsi-ld:Room:from-m`)).status === 200, 'A to apply M\'s valid change')
      const before = rejectsOf(A, m.peerId)
      await publish(msg)
      await waitFor(() => rejectsOf(A, m.peerId) > before, 'A to count the replay')
      assert.ok((A.mesh.replicator?.stats.replays ?? 0) >= 1)
    })

    const waited = (): number => A.mesh.replicator?.stats.waited ?? 0

    it('a forged change relayed ahead of the creation of another domain\'s entity waits for it, and is then refused', async () => {
      // M knows the id of B's new infrastructure element before A does (it relays B's gossip, say)
      // and sends its own write to it first. A cannot tell whose entity it is yet: it waits.
      const id = 'urn:ngsi-ld:InfrastructureElement:domain-b:race'
      const before = { rejects: rejectsOf(A, m.peerId), waited: waited() }
      await publishUntil({ v: 1, e: [envelope('domain-m', 20, [change(id, 'domain-m', 20, { a: [[CPU, '@none', { type: 'Property', value: 1024 }]] })])] }, () => waited() > before.waited, 'A to hold M\'s change back')
      assert.equal((await api(A, 'GET', `${E}/${id}`)).status, 404, 'nothing applied while it waits')
      assert.equal(A.mesh.replicator?.stats.waiting, 1)
      assert.equal((await api(B, 'POST', E, { ...ie('domain-b', 0), id })).status, 201)
      await waitFor(() => rejectsOf(A, m.peerId) > before.rejects, 'A to refuse M\'s change once B\'s creation is there')
      assert.equal(A.mesh.replicator?.stats.waiting, 0)
      assert.equal((await api(A, 'GET', `${E}/${id}`)).body?.cpuCores?.value, 4, 'B\'s value, not M\'s')
      assert.equal(A.ngsi.store.isReceived('domain-m', 20), true, 'the refusal is final')
      // (Digests differ here: A alone holds M's entities.)
      const atB = await api(B, 'GET', `${E}/${id}?options=sysAttrs`)
      assert.deepEqual((await api(A, 'GET', `${E}/${id}?options=sysAttrs`)).body, atB.body, 'A holds the entity as its owner wrote it')
    })

    it('a change that arrives before the creation of its entity is applied once the creation is there', async () => {
      const id = 'urn:ngsi-ld:Room:late'
      const before = waited()
      await publishUntil({ v: 1, e: [envelope('domain-m', 22, [change(id, 'domain-m', 22, { a: [[CPU, '@none', { type: 'Property', value: 2 }]] })])] }, () => waited() > before, 'A to hold M\'s update back')
      await publish({ v: 1, e: [envelope('domain-m', 21, [change(id, 'domain-m', 21, { c: 1, t: [ROOM], a: [['https://uri.etsi.org/ngsi-ld/default-context/name', '@none', { type: 'Property', value: 'late' }]] })])] })
      const got = await waitFor(async () => { const r = await api(A, 'GET', `${E}/${id}`); return r.body?.cpuCores != null ? r.body : null }, 'A to apply the creation, then the update')
      assert.equal(got.name.value, 'late')
      assert.equal(got.cpuCores.value, 2)
      assert.equal(A.mesh.replicator?.stats.waiting, 0)
    })

    it('a change whose entity never comes is judged as things stand after waitTimeoutMs', async () => {
      const id = 'urn:ngsi-ld:Room:never'
      const before = { waited: waited(), expired: A.mesh.replicator?.stats.waitExpired ?? 0 }
      await publishUntil({ v: 1, e: [envelope('domain-m', 23, [change(id, 'domain-m', 23, { a: [[CPU, '@none', { type: 'Property', value: 3 }]] })])] }, () => waited() > before.waited, 'A to hold M\'s change back')
      const heldAt = Date.now()
      assert.equal(A.ngsi.store.isReceived('domain-m', 23), false)
      await waitFor(() => A.ngsi.store.isReceived('domain-m', 23), 'A to judge it after the wait', 3 * WAIT_MS)
      assert.ok(Date.now() - heldAt >= WAIT_MS - 3000, 'not before its time (held at most ~1 s before heldAt, polled each second)')
      const counters = (await api(A, 'GET', '/mesh/v1/peers')).body.replication
      assert.equal(counters.waitExpired, before.expired + 1)
      assert.equal(counters.waiting, 0)
      assert.ok(counters.waited >= 3)
    })

    it('a domain pulling in rounds ends a pull at a round that brought nothing new, until the next interval', async () => {
      // K, new, does not count M as a member (A does): every change of M that A sends it, K refuses
      // and does not mark as dealt with (the refusal is A's to answer for, not M's), so a round
      // that brings only those brings nothing new, and the next would bring the same again. K asks
      // for rounds of one page (syncRoundBytes 1): every round that sends anything says "more".
      const K = nodeFor(k, { members: [a, b, c], bootstrap: [a], config: { replication: { syncRoundBytes: 1, syncIntervalMs: 300 } } })
      await K.start()
      const rk = (): NonNullable<ContinuumNode['mesh']['replicator']> => K.mesh.replicator as NonNullable<ContinuumNode['mesh']['replicator']>
      const behind = (): string[] => Object.entries(A.ngsi.store.versionVector()).filter(([o, n]) => o !== 'domain-m' && (K.ngsi.store.versionVector()[o] ?? 0) < n).map(([o]) => o)
      await waitFor(() => behind().length === 0, 'K to hold what A holds of A, B and C', 60_000)
      assert.ok(A.ngsi.store.versionVector()['domain-m'] > 0, 'A holds changes of M')
      assert.equal(K.ngsi.store.versionVector()['domain-m'] ?? 0, 0, 'K holds none')
      // A round brings at most one page of envelopes: K asked for rounds of one page.
      const received = rk().syncState().find(p => p.peerId === a.peerId)?.received ?? 0
      assert.ok(received > 4 * SYNC_PAGE, `K got ${received} envelopes from A`)
      assert.ok(rk().stats.syncRounds >= Math.ceil(received / SYNC_PAGE), `${received} envelopes in ${rk().stats.syncRounds} rounds`)
      const refusedBefore = rejectsOf(K, a.peerId)
      for (let i = 0; i < 3; i++) {
        const before = rk().stats.syncRounds
        await rk().syncWith(a.peerId)
        // One round (two if A wrote something in between); without the stop, a pull runs up to 1,000 rounds.
        assert.ok(rk().stats.syncRounds - before <= 2, `a pull took ${rk().stats.syncRounds - before} rounds`)
      }
      assert.ok(rejectsOf(K, a.peerId) > refusedBefore, 'the rounds brought M\'s changes, refused')
      assert.equal(K.ngsi.store.versionVector()['domain-m'] ?? 0, 0)
      const peers = (await api(K, 'GET', '/mesh/v1/peers')).body.replication
      assert.ok(peers.syncRounds >= rk().stats.syncRounds - 1, 'the rounds are shown in /mesh/v1/peers')
      await K.stop()
    })

    it('keeps at most replication.maxWaiting envelopes waiting; the oldest are dropped unmarked, for anti-entropy to bring again', async () => {
      const before = waited()
      const ids = [30, 31, 32, 33, 34].map(n => ({ n, id: `urn:ngsi-ld:Room:unborn-${n}` }))
      await publishUntil({ v: 1, e: ids.map(({ n, id }) => envelope('domain-m', n, [change(id, 'domain-m', n, { a: [[CPU, '@none', { type: 'Property', value: n }]] })])) }, () => waited() >= before + 5, 'A to hold the five back')
      assert.equal(A.mesh.replicator?.stats.waiting, MAX_WAITING)
      for (const { n } of ids) assert.equal(A.ngsi.store.isReceived('domain-m', n), false, `change ${n} is not marked received`)
    })

    it('keeps at most replication.maxWaitingBytes of envelopes waiting, dropping the oldest first', async () => {
      const before = waited()
      // Two envelopes of ~5 KB each: fewer than maxWaiting, but together above the 8 KiB bound.
      const big = [40, 41].map(n => ({ n, id: `urn:ngsi-ld:Room:unborn-${n}` }))
      const envs = big.map(({ n, id }) => envelope('domain-m', n, [change(id, 'domain-m', n, { a: [[CPU, '@none', { type: 'Property', value: 'x'.repeat(5000) }]] })]))
      assert.ok(envs.every(e => e.d.length > MAX_WAITING_BYTES / 2 && e.d.length < MAX_WAITING_BYTES), 'each alone fits, both do not')
      await publishUntil({ v: 1, e: envs }, () => waited() >= before + 2, 'A to hold both back in turn')
      const stats = A.mesh.replicator?.stats
      assert.equal(stats?.waiting, 1, 'one envelope of the two (and none of the smaller, older ones) is kept')
      assert.ok((stats?.waitingBytes ?? 0) <= MAX_WAITING_BYTES && (stats?.waitingBytes ?? 0) >= envs[0].d.length, `waitingBytes ${stats?.waitingBytes}`)
      const peers = (await api(A, 'GET', '/mesh/v1/peers')).body.replication
      assert.equal(peers.waitingBytes, stats?.waitingBytes, 'shown in /mesh/v1/peers')
      for (const { n } of big) assert.equal(A.ngsi.store.isReceived('domain-m', n), false, `change ${n} is not marked received`)
    })

    it('a non-member cannot publish at all: it is never connected', () => {
      assert.equal(B.mesh.libp2p.getConnections().some(conn => conn.remotePeer.toString() === m.peerId), false)
    })
  })
})

import { strict as assert } from 'node:assert'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Connection, Stream } from '@libp2p/interface'
import type { ContinuumNode } from '../../src/node.ts'
import { syncProtocol } from '../../mesh/constants.ts'
import { api, cleanup, FAST_MESH, nodeFor, prepareDomain, waitFor, type TestDomain } from '../helpers/index.ts'

/**
 * A member whose heartbeats stop while its connection stays open has lost its gossip path: the
 * others hang up so that both sides redial. But a member late with heartbeats because it is busy
 * serving us an anti-entropy round must not be cut off in the middle of it.
 */
describe('mesh: a member that falls silent on an open connection', function () {
  this.timeout(60_000)
  let a: TestDomain, b: TestDomain
  let A: ContinuumNode, B: ContinuumNode

  before(async () => {
    [a, b] = await Promise.all(['domain-a', 'domain-b'].map(prepareDomain))
    // A waits longer than usual before calling B dead, so that B stays *suspect* for a while.
    A = nodeFor(a, { members: [b], config: { mesh: { listen: [`/ip4/127.0.0.1/tcp/${a.meshPort}`], bootstrap: [], ...FAST_MESH, deadAfterMs: 5000 } } })
    B = nodeFor(b, { members: [a], bootstrap: [a] })
    await A.start()
    await B.start()
  })
  after(cleanup)

  const stateOfB = (): string | undefined => A.mesh.membership.table().find(m => m.peerId === b.peerId)?.state
  const connToB = (): Connection | undefined => A.mesh.libp2p.getConnections().find(c => c.remotePeer.toString() === b.peerId && c.status === 'open')

  async function silenceB (): Promise<void> {
    B.mesh.membership.stop()
    await waitFor(() => stateOfB() === 'suspect', 'A to suspect the silent B')
  }

  async function resumeB (): Promise<void> {
    B.mesh.membership.start()
    await waitFor(() => stateOfB() === 'alive' && connToB() != null, 'B alive and connected again')
  }

  it('is not hung up on while a sync stream with it is open, and is once the stream ends', async () => {
    await waitFor(() => stateOfB() === 'alive', 'A to see B alive')
    const conn = await waitFor(connToB, 'a connection from A to B')
    // An anti-entropy round in progress: B waits for our version vector (for up to a minute).
    const stream: Stream = await A.mesh.libp2p.dialProtocol(peerIdFromString(b.peerId), syncProtocol('test'))
    try {
      await silenceB()
      // Well into the silence (B suspect), the connection and the stream are intact.
      await new Promise(resolve => setTimeout(resolve, FAST_MESH.deadAfterMs))
      assert.notEqual(stateOfB(), 'alive')
      assert.equal(conn.status, 'open', 'the connection carrying the sync stream stays open')
      assert.equal(stream.status, 'open')
      // The round ends while B is still silent: the next look hangs up.
      stream.abort(new Error('test: round over'))
      await waitFor(() => conn.status !== 'open', 'A to hang up on B once no request stream is open', 5_000)
    } finally {
      stream.abort(new Error('test over'))
      await resumeB()
    }
  })

  it('still gets the writes forwarded to it while it is only suspect (busy, not gone)', async () => {
    const id = 'urn:ngsi-ld:InfrastructureElement:domain-b:1'
    const created = await api(B, 'POST', '/ngsi-ld/v1/entities', {
      id, type: 'InfrastructureElement', cpuCores: { type: 'Property', value: 4 }, domain: { type: 'Relationship', object: 'urn:ngsi-ld:Domain:domain-b' }
    })
    assert.equal(created.status, 201)
    await waitFor(async () => (await api(A, 'GET', `/ngsi-ld/v1/entities/${id}`)).status === 200, 'A to have B\'s entity')
    try {
      const before = await waitFor(connToB, 'a connection from A to B')
      await silenceB()
      // A hangs up on the silent B and B redials; B stays suspect (still no heartbeats).
      await waitFor(() => { const c = connToB(); return c != null && c !== before }, 'A and B connected again')
      assert.equal(stateOfB(), 'suspect')
      const res = await api(A, 'PATCH', `/ngsi-ld/v1/entities/${id}/attrs`, { cpuCores: { type: 'Property', value: 16 } })
      assert.equal(res.status, 204, JSON.stringify(res.body))
      assert.equal(res.headers.get('x-cmesh-forwarded-by'), 'domain-b')
      assert.equal((await api(B, 'GET', `/ngsi-ld/v1/entities/${id}`)).body.cpuCores.value, 16, 'the owner carried it out')
    } finally {
      await resumeB()
    }
  })

  it('stays alive while its changes keep arriving by gossip, though its heartbeats stop', async () => {
    await waitFor(() => stateOfB() === 'alive' && connToB() != null, 'B alive and connected')
    B.mesh.membership.stop()
    let writing = true
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        const res = await api(B, 'POST', '/ngsi-ld/v1/entities', { id: `urn:ngsi-ld:Room:busy-${i}`, type: 'Room' })
        assert.equal(res.status, 201)
        await new Promise(resolve => setTimeout(resolve, FAST_MESH.heartbeatIntervalMs / 2))
      }
    })()
    try {
      // Well past the suspect threshold without a heartbeat: gossip alone keeps B alive at A.
      const states = new Set<string | undefined>()
      const until = Date.now() + 2 * FAST_MESH.deadAfterMs
      while (Date.now() < until) {
        states.add(stateOfB())
        await new Promise(resolve => setTimeout(resolve, 50))
      }
      assert.deepEqual([...states], ['alive'])
      writing = false
      await writer
      await waitFor(() => stateOfB() !== 'alive', 'A to suspect B once its gossip stops too', 5_000)
    } finally {
      writing = false
      await writer.catch(() => {})
      await resumeB()
    }
  })

  it('is hung up on at once when nothing is in flight, and both sides reconnect', async () => {
    const conn = await waitFor(connToB, 'a connection from A to B')
    await silenceB()
    await waitFor(() => conn.status !== 'open', 'A to hang up on the silent B', 5_000)
    await resumeB()
    assert.notEqual(connToB(), conn, 'a new connection')
  })
})

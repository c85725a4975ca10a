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
    A = nodeFor(a, { members: [b] })
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
      // Well into the silence (suspect, then dead), the connection and the stream are intact.
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
      await silenceB()
      const res = await api(A, 'PATCH', `/ngsi-ld/v1/entities/${id}/attrs`, { cpuCores: { type: 'Property', value: 16 } })
      assert.equal(res.status, 204, JSON.stringify(res.body))
      assert.equal(res.headers.get('x-cmesh-forwarded-by'), 'domain-b')
      assert.equal((await api(B, 'GET', `/ngsi-ld/v1/entities/${id}`)).body.cpuCores.value, 16, 'the owner carried it out')
    } finally {
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

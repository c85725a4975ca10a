/**
 * Regression test for a bug the fault tests found (issue 4).
 *
 * Two domains often hold two connections to each other: both bootstrap to each other, and when
 * they dial at the same time both dials succeed (about half of concurrent starts here), and
 * gossipsub may put its stream to the peer on one and the peer's stream to it on the other. If
 * the connection with one domain's gossipsub stream then closes while the other connection stays
 * open (the connection monitor closes a connection that misses pings, e.g. under load),
 * @libp2p/gossipsub 17.1.1 forgets that stream and never opens a new one on the remaining
 * connection: no `peer:disconnect` fires, so nothing reconnects either. From then on that domain's
 * heartbeats and changes never reach the other one directly: it is marked dead there, anti-entropy
 * skips it (Replicator.syncRound pulls only from members it sees alive), and the keeper, seeing a
 * connection, does not redial. With a third domain relaying gossip nobody notices, until that one
 * is cut off: that is how test/federation/catchup.spec.ts first failed (domain-a and domain-b,
 * connected and not partitioned, did not exchange a single change for 60 s).
 *
 * The fix: anti-entropy pulls from every connected member, and a member that turns suspect on an
 * open connection is hung up on (mesh/mesh.ts), so both sides redial and gossipsub starts afresh.
 *
 * In-process, on 127.0.0.1 (no namespaces needed).
 */
import { strict as assert } from 'node:assert'
import type { ContinuumNode } from '../../src/node.ts'
import { api, cleanup, FAST_MESH, nodeFor, prepareDomain, waitFor, type TestDomain } from '../helpers/index.ts'

/** Attempts at getting the two-connection layout (each succeeds about half the time). */
const ATTEMPTS = 12

describe('gossip between two domains survives the close of one of their two connections', function () {
  this.timeout(120_000)
  let a: TestDomain, b: TestDomain
  let A: ContinuumNode, B: ContinuumNode

  /** A's open connections to B, with the direction of the gossipsub streams each carries. */
  function layout (): Array<{ conn: ReturnType<ContinuumNode['mesh']['libp2p']['getConnections']>[number], gossip: string[] }> {
    return A.mesh.libp2p.getConnections()
      .filter(c => c.remotePeer.toString() === b.peerId && c.status === 'open')
      .map(conn => ({ conn, gossip: conn.streams.filter(s => (s.protocol ?? '').startsWith('/meshsub/')).map(s => s.direction) }))
  }

  before(async function () {
    // Concurrent starts, each bootstrapping to the other, until A's gossipsub stream to B and
    // B's to A run over different connections.
    for (let i = 0; i < ATTEMPTS; i++) {
      [a, b] = await Promise.all(['domain-a', 'domain-b'].map(prepareDomain))
      A = nodeFor(a, { members: [b], bootstrap: [b] })
      B = nodeFor(b, { members: [a], bootstrap: [a] })
      await Promise.all([A.start(), B.start()])
      await waitFor(() => A.mesh.membership.alivePeers().length === 1 && B.mesh.membership.alivePeers().length === 1, 'A and B to see each other alive')
      await new Promise(resolve => setTimeout(resolve, 300))
      const l = layout()
      if (l.length === 2 && l.every(x => x.gossip.length === 1)) return
      await cleanup()
    }
    console.warn(`\n  !!! SKIPPED the duplicate-connection test: no split two-connection layout in ${ATTEMPTS} concurrent starts\n`)
    this.skip()
  })

  after(cleanup)

  it('keeps replicating, and both stay alive to each other, after the connection with A\'s gossip stream closes', async () => {
    const mine = layout().find(x => x.gossip[0] === 'outbound')
    assert.ok(mine != null, 'one connection carries A\'s gossipsub stream to B')
    await mine.conn.close()
    assert.equal(layout().length, 1, 'A and B are still connected')

    // Longer than deadAfterMs: a broken gossip path shows as a dead member by now.
    await new Promise(resolve => setTimeout(resolve, FAST_MESH.deadAfterMs * 2))
    const res = await api(A, 'POST', '/ngsi-ld/v1/entities', { id: 'urn:ngsi-ld:Room:after-close', type: 'Room', temperature: { type: 'Property', value: 1 } })
    assert.equal(res.status, 201)
    let replicated = true
    try {
      await waitFor(async () => (await api(B, 'GET', '/ngsi-ld/v1/entities/urn:ngsi-ld:Room:after-close')).status === 200, 'B to see A\'s write', 5000)
    } catch { replicated = false }
    const stateOfAatB = B.mesh.membership.table().find(m => m.peerId === a.peerId)?.state
    assert.deepEqual({ connected: layout().length > 0, stateOfAatB, replicated }, { connected: true, stateOfAatB: 'alive', replicated: true })
  })
})

import { strict as assert } from 'node:assert'
import type { ContinuumNode } from '../../src/node.ts'
import type { MemberInfo } from '../../mesh/index.ts'
import { validateHeartbeat } from '../../mesh/membership.ts'
import { cleanup, nodeFor, prepareDomain, waitFor, type TestDomain } from '../helpers/index.ts'

function row (node: ContinuumNode, peer: TestDomain): MemberInfo | undefined {
  return node.mesh.membership.table().find(m => m.peerId === peer.peerId)
}

function sees (node: ContinuumNode, peers: TestDomain[], state: MemberInfo['state']): boolean {
  return peers.every(p => row(node, p)?.state === state)
}

/**
 * One federation for the whole suite (real libp2p over TCP on 127.0.0.1, LevelDB in temp dirs):
 * A, B and C are members; M is not. B's allowlist is stale and still admits M, so M's heartbeats
 * reach A and C only through B — where their topic validators must reject them.
 */
describe('mesh membership (3 domains + 1 outsider)', function () {
  this.timeout(60_000)
  let a: TestDomain, b: TestDomain, c: TestDomain, m: TestDomain
  let nodeA: ContinuumNode, nodeB: ContinuumNode, nodeC: ContinuumNode, nodeM: ContinuumNode

  before(async () => {
    [a, b, c, m] = await Promise.all(['domain-a', 'domain-b', 'domain-c', 'outsider'].map(prepareDomain))
    nodeA = nodeFor(a, { members: [b, c] })
    nodeB = nodeFor(b, { members: [a, c, m], bootstrap: [a] })
    nodeC = nodeFor(c, { members: [a, b], bootstrap: [a, b] })
    nodeM = nodeFor(m, { members: [a, b], bootstrap: [a, b] })
    await nodeA.start()
    await Promise.all([nodeB.start(), nodeC.start(), nodeM.start()])
  })

  after(cleanup)

  it('bootstraps three domains that all see each other alive', async () => {
    await waitFor(() => sees(nodeA, [b, c], 'alive') && sees(nodeB, [a, c], 'alive') && sees(nodeC, [a, b], 'alive'),
      'A, B and C to see each other alive')
    const viewFromA = row(nodeA, c)
    assert.equal(viewFromA?.domain, 'domain-c')
    assert.equal(viewFromA?.apiUrl, `http://127.0.0.1:${c.apiPort}`)
    assert.ok(viewFromA?.load != null && viewFromA.load.cpu >= 0 && viewFromA.load.cpu <= 1)
    assert.ok((viewFromA?.heartbeats ?? 0) > 0)
    // Heartbeats sent while a node's API was still starting (no URL yet) are valid too. (B is left
    // out as an author: it relays the outsider's messages, which the others reject and count.)
    for (const [node, peers] of [[nodeA, [c]], [nodeB, [a, c]], [nodeC, [a]]] as const) {
      for (const p of peers) assert.equal(row(node, p)?.rejects, 0, `${p.name}'s heartbeats all accepted`)
    }
  })

  it('measures the round-trip time to connected members', async () => {
    const rtt = await waitFor(() => row(nodeA, b)?.rttMs, 'a ping round-trip time from A to B')
    assert.ok(rtt >= 0 && rtt < 1000, `rtt ${rtt}`)
  })

  it('never lets a non-member connect: both directions are refused by the gater', async () => {
    await waitFor(() => nodeA.mesh.membership.listStrangers().find(s => s.peerId === m.peerId && s.refusedConnections > 0),
      'A to refuse the outsider')
    assert.equal(nodeA.mesh.libp2p.getConnections().some(conn => conn.remotePeer.toString() === m.peerId), false)
    assert.equal(row(nodeA, m), undefined, 'the outsider has no row in A\'s membership table')
    // C never admits M either, and says so from its own side.
    assert.equal(nodeC.mesh.libp2p.getConnections().some(conn => conn.remotePeer.toString() === m.peerId), false)
  })

  it('rejects and counts heartbeats of a non-member relayed by a member', async () => {
    // B (stale allowlist) is connected to M and forwards its heartbeats; A must reject them.
    await waitFor(() => row(nodeB, m)?.state === 'alive', 'B (whose allowlist still has M) to hear M')
    const stranger = await waitFor(() => nodeA.mesh.membership.listStrangers().find(s => s.peerId === m.peerId && s.rejects > 0),
      'A to reject the outsider\'s heartbeats')
    assert.ok(stranger.rejects > 0)
    assert.ok(nodeA.mesh.membership.table().every(r => r.peerId !== m.peerId))
    assert.equal(row(nodeA, b)?.state, 'alive', 'the relaying member is still a member')
  })

  it('marks a stopped domain dead, and alive again with the same peer id after a restart on its data dir', async () => {
    await nodeC.stop()
    await waitFor(() => row(nodeA, c)?.state === 'suspect', 'A to suspect C')
    await waitFor(() => row(nodeA, c)?.state === 'dead' && row(nodeB, c)?.state === 'dead', 'A and B to mark C dead')

    nodeC = nodeFor(c, { members: [a, b], bootstrap: [a, b] })
    await nodeC.start()
    assert.equal(nodeC.peerId, c.peerId, 'same key, same peer id')
    await waitFor(() => row(nodeA, c)?.state === 'alive' && row(nodeB, c)?.state === 'alive' && sees(nodeC, [a, b], 'alive'),
      'C to be alive again everywhere')
  })

  it('keeps redialling a bootstrap peer while it is down and reconnects when it returns', async () => {
    // B keeps dialling A (its only bootstrap peer) while A is away, and reconnects when A returns.
    await nodeA.stop()
    await waitFor(() => row(nodeB, a)?.state === 'dead', 'B to mark A dead')
    const failing = await waitFor(() => nodeB.mesh.dialStatus().find(d => d.peerId === a.peerId && d.failures > 0), 'B to fail dialling A')
    assert.equal(failing.permanent, true)
    nodeA = nodeFor(a, { members: [b, c] })
    await nodeA.start()
    await waitFor(() => row(nodeB, a)?.state === 'alive' && nodeB.mesh.dialStatus().find(d => d.peerId === a.peerId)?.connected,
      'B to reconnect to A')
  })
})

describe('mesh membership: heartbeat schema', () => {
  const hb = { v: 1, domain: 'domain-a', fqdn: 'domain-a.example', addrs: [], load: { cpu: 0, memory: 0, rssBytes: 1, eventLoopLagMs: 0 }, seq: 1, startedAt: 1, sentAt: 2 }
  it('accepts a heartbeat without apiUrl (sent while the API is still starting), not one with an empty URL', () => {
    assert.equal(validateHeartbeat(hb), true)
    assert.equal(validateHeartbeat({ ...hb, apiUrl: 'http://127.0.0.1:1' }), true)
    assert.equal(validateHeartbeat({ ...hb, apiUrl: '' }), false)
  })
})

import { strict as assert } from 'node:assert'
import { join } from 'node:path'
import { pino } from 'pino'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { multiaddr } from '@multiformats/multiaddr'
import {
  createRevocationList, initCa, issueDomainCertificate, loadOrCreateDomainKey, type DomainKey, type RevocationList
} from '../../identity/index.ts'
import { JsonFrames, Mesh, type MeshInit, type StrangerInfo } from '../../mesh/index.ts'
import { cleanup, FAST_MESH, freePort, tempDir, waitFor } from '../helpers/index.ts'

const FEDERATION = 'certs'
const TIMEOUT_MS = 1500

interface Domain {
  name: string
  key: DomainKey
  peerId: string
  port: number
  addr: string
  certPem?: string
  serial?: string
}

async function prepare (name: string): Promise<Domain> {
  const key = await loadOrCreateDomainKey(await tempDir(`cmesh-${name}-`))
  const port = await freePort()
  const peerId = key.peerId.toString()
  return { name, key, peerId, port, addr: `/ip4/127.0.0.1/tcp/${port}/p2p/${peerId}` }
}

async function certify (caDir: string, d: Domain): Promise<void> {
  const issued = await issueDomainCertificate({ caDir, domain: d.name, fqdn: `${d.name}.test.local`, peerId: d.peerId })
  d.certPem = issued.certPem
  d.serial = issued.serial
}

const meshes: Mesh[] = []

function meshFor (d: Domain, opts: { caCertPem?: string, members?: Domain[], bootstrap?: Domain[], init?: Partial<MeshInit> } = {}): Mesh {
  const mesh = new Mesh({
    privateKey: d.key.privateKey,
    log: pino({ level: 'silent' }),
    getLoad: () => ({ cpu: 0, memory: 0, rssBytes: 0, eventLoopLagMs: 0 }),
    getApiUrl: () => 'http://x'
  }, {
    domain: d.name,
    fqdn: `${d.name}.test.local`,
    federation: FEDERATION,
    members: (opts.members ?? []).map(m => m.peerId),
    listen: [`/ip4/127.0.0.1/tcp/${d.port}`],
    bootstrap: (opts.bootstrap ?? []).map(b => b.addr),
    ...FAST_MESH,
    ...(opts.caCertPem != null && d.certPem != null ? { certificates: { caCertPem: opts.caCertPem, certPem: d.certPem } } : {}),
    certificateTimeoutMs: TIMEOUT_MS,
    ...opts.init
  })
  meshes.push(mesh)
  return mesh
}

function connected (a: Mesh, b: Domain): boolean {
  return a.libp2p.getConnections().some(c => c.remotePeer.toString() === b.peerId && c.status === 'open')
}

function alive (a: Mesh, b: Domain): boolean {
  return a.membership.table().some(m => m.peerId === b.peerId && m.state === 'alive')
}

function stranger (a: Mesh, b: Domain): StrangerInfo | undefined {
  return a.membership.listStrangers().find(s => s.peerId === b.peerId)
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/**
 * Membership by certificate between real libp2p nodes on 127.0.0.1. A, B and C hold certificates
 * of the federation CA and allowlist nobody (A allowlists L only); B and C bootstrap to A alone.
 * The others try to get in without a valid certificate.
 */
describe('mesh membership by certificate', function () {
  this.timeout(60_000)
  let caDir: string
  let caCertPem: string
  let a: Domain, b: Domain, c: Domain, foreign: Domain, bare: Domain, thief: Domain, listed: Domain
  let A: Mesh, B: Mesh, C: Mesh

  before(async () => {
    caDir = join(await tempDir('cmesh-ca-'), 'ca')
    caCertPem = (await initCa({ dir: caDir, name: 'continuum' })).certPem
    ;[a, b, c, foreign, bare, thief, listed] = await Promise.all(['domain-a', 'domain-b', 'domain-c', 'foreign', 'bare', 'thief', 'listed'].map(prepare))
    await Promise.all([a, b, c].map(async d => { await certify(caDir, d) }))
    A = meshFor(a, { caCertPem, members: [listed] })
    B = meshFor(b, { caCertPem, bootstrap: [a] })
    C = meshFor(c, { caCertPem, bootstrap: [a] })
    await A.start()
    await Promise.all([B.start(), C.start()])
  })

  after(async () => {
    for (const m of meshes.splice(0)) await m.stop().catch(() => {})
    await cleanup()
  })

  it('admits domains with empty allowlists by certificate: they see each other alive', async () => {
    await waitFor(() => alive(A, b) && alive(B, a), 'A and B to see each other alive')
    const proof = A.certificateOf(b.peerId)
    assert.equal(proof?.domain, 'domain-b')
    assert.equal(proof?.fqdn, 'domain-b.test.local')
    assert.equal(proof?.serial, b.serial)
    assert.equal(proof?.source, 'connection')
    assert.equal(proof?.revoked, false)
    assert.equal(B.certificateOf(a.peerId)?.domain, 'domain-a', 'both sides present and check')
    // The certificate's domain binding replaces trust on first use: B speaks for domain-b only.
    assert.equal(A.membership.domainOf(b.peerId), 'domain-b')
    assert.equal(A.membership.peerOf('domain-b'), b.peerId)
    assert.equal(A.membership.bind('domain-z', b.peerId), false, 'a certified peer cannot claim another name')
    assert.equal(A.membership.bind('domain-b', c.peerId), false)
  })

  it('spreads certificates in heartbeats: domains that only share a bootstrap peer find each other', async () => {
    // B and C know only A; each learns the other from heartbeats A relays, then they connect.
    await waitFor(() => alive(B, c) && alive(C, b), 'B and C to see each other alive')
    await waitFor(() => connected(B, c), 'B and C to connect directly')
    assert.equal(B.certificateOf(c.peerId)?.domain, 'domain-c')
  })

  it('disconnects and counts a peer whose certificate comes from another CA', async () => {
    const otherCa = join(await tempDir('cmesh-ca2-'), 'ca')
    const otherCaPem = (await initCa({ dir: otherCa, name: 'continuum' })).certPem
    await certify(otherCa, foreign)
    const F = meshFor(foreign, { caCertPem: otherCaPem, bootstrap: [a] })
    await F.start()
    const s = await waitFor(() => stranger(A, foreign), 'A to refuse the foreign peer')
    assert.match(s.lastReason ?? '', /chain|not issued by the federation CA/)
    assert.ok(s.refusedConnections >= 1)
    await waitFor(() => !connected(A, foreign), 'the connection to be closed')
    assert.equal(A.certificateOf(foreign.peerId), null)
    assert.ok(A.membership.table().every(m => m.peerId !== foreign.peerId))
    await F.stop()
  })

  it('disconnects a peer that presents no certificate; meanwhile it gets no gossip and no protocol', async () => {
    // An allowlist-only node that lists A: A admits it for TIMEOUT_MS, then hangs up.
    const echo = `/cmesh/${FEDERATION}/test-echo/1.0.0`
    let served = 0
    await A.libp2p.handle(echo, async (stream) => { served++; stream.abort(new Error('done')) })
    const N = meshFor(bare, { members: [a], bootstrap: [a] })
    await N.start()
    await waitFor(() => connected(A, bare), 'the bare peer to connect')
    // Not yet proven: protocols registered after start refuse its streams.
    await assert.rejects(async () => {
      const stream = await N.libp2p.dialProtocol(multiaddr(a.addr), echo)
      await new JsonFrames(stream, 1024).read(AbortSignal.timeout(1000))
    })
    assert.equal(served, 0)
    const s = await waitFor(() => stranger(A, bare), 'A to refuse the bare peer', TIMEOUT_MS * 4)
    assert.match(s.lastReason ?? '', /no certificate presented within/)
    await waitFor(() => !connected(A, bare), 'the connection to be closed')
    // Nothing A published reached it while it was connected (its allowlist would have accepted it).
    const row = N.membership.table().find(m => m.peerId === a.peerId)
    assert.equal(row?.heartbeats ?? 0, 0)
    // And it stays refused for a while, without another provisional connection.
    await sleep(500)
    assert.equal(connected(A, bare), false)
    await N.stop()
    await A.libp2p.unhandle(echo)
  })

  it('disconnects a peer that presents a valid certificate issued to another peer id', async () => {
    const host: Libp2p = await createLibp2p({
      privateKey: thief.key.privateKey,
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify() }
    })
    try {
      const stream = await host.dialProtocol(multiaddr(a.addr), `/cmesh/${FEDERATION}/cert/1.0.0`)
      const frames = new JsonFrames(stream, 16 * 1024)
      await frames.write({ v: 1, cert: b.certPem }, AbortSignal.timeout(2000))
      const { message } = await frames.read<{ error?: { code: string, message: string } }>(AbortSignal.timeout(2000))
      assert.equal(message.error?.code, 'MESH_CERTIFICATE_REFUSED')
      assert.match(message.error?.message ?? '', /peer-mismatch/)
      const s = await waitFor(() => stranger(A, thief), 'A to refuse the thief')
      assert.match(s.lastReason ?? '', /peer-mismatch/)
      await waitFor(() => host.getConnections().length === 0, 'A to hang up')
      assert.equal(A.certificateOf(thief.peerId), null)
      // B's own standing is untouched by someone else presenting its certificate.
      assert.equal(A.certificateOf(b.peerId)?.revoked, false)
      assert.ok(connected(A, b))
    } finally {
      await host.stop()
    }
  })

  it('keeps an allowlisted peer without certificate connected', async () => {
    const L = meshFor(listed, { members: [a], bootstrap: [a] })
    await L.start()
    await waitFor(() => alive(A, listed) && alive(L, a), 'A and the allowlisted peer to see each other')
    await sleep(TIMEOUT_MS + 300)
    assert.ok(connected(A, listed), 'still connected after the certificate deadline')
    assert.equal(stranger(A, listed), undefined)
    assert.equal(A.certificateOf(listed.peerId), null)
  })

  describe('revocation', () => {
    let list: RevocationList

    it('refuses a forged list and one from another CA', async () => {
      const good = await createRevocationList({ caDir, serials: ['01'] })
      assert.throws(() => A.setRevocationList({ ...good, serials: [b.serial] }), { code: 'IDENTITY_REVOCATION_LIST_INVALID' })
      const otherCa = join(await tempDir('cmesh-ca3-'), 'ca')
      await initCa({ dir: otherCa, name: 'continuum' })
      const foreignList = await createRevocationList({ caDir: otherCa, serials: [b.serial as string] })
      assert.throws(() => A.setRevocationList(foreignList), { code: 'IDENTITY_REVOCATION_LIST_INVALID' })
      assert.equal(A.revocationList(), null)
    })

    it('disconnects a revoked domain at once and refuses it afterwards; others are unaffected', async () => {
      assert.ok(connected(A, b))
      list = await createRevocationList({ caDir, serials: [b.serial as string] })
      const update = A.setRevocationList(JSON.parse(JSON.stringify(list)))
      assert.deepEqual(update, { applied: true, sequence: 1, revokedPeers: [b.peerId] })
      await waitFor(() => !connected(A, b), 'A to drop B')
      assert.equal(A.certificateOf(b.peerId)?.revoked, true)
      // B keeps redialling A (its bootstrap peer); A's gater refuses every attempt.
      const before = stranger(A, b)?.refusedConnections ?? 0
      assert.match(stranger(A, b)?.lastReason ?? '', /revoked/)
      await waitFor(() => (stranger(A, b)?.refusedConnections ?? 0) > before, 'B to be refused again', 10_000)
      await sleep(500)
      assert.equal(connected(A, b), false)
      // Its heartbeats, relayed by C (which has no list yet), are not taken either.
      await waitFor(() => A.membership.table().find(m => m.peerId === b.peerId)?.state !== 'alive', 'A to stop hearing B')
      // C and the allowlisted L are still there.
      assert.ok(connected(A, c) && connected(A, listed))
      await waitFor(() => alive(A, c) && alive(A, listed), 'A to keep hearing C and L')
    })

    it('keeps the newest list: the same or an older one changes nothing', async () => {
      assert.equal(A.setRevocationList(list).applied, false)
      const second = await createRevocationList({ caDir, serials: [], previous: list })
      assert.deepEqual(A.setRevocationList(second), { applied: true, sequence: 2, revokedPeers: [] })
      assert.deepEqual(A.setRevocationList(list), { applied: false, sequence: 2, revokedPeers: [] })
      assert.equal(A.revocationList()?.sequence, 2)
      assert.equal(A.certificateOf(b.peerId)?.revoked, true, 'revocation is permanent')
    })
  })

  describe('configuration', () => {
    it('refuses a certificate that names another peer or another domain', async () => {
      const d = await prepare('domain-d')
      assert.throws(() => meshFor(d, { init: { certificates: { caCertPem, certPem: b.certPem as string } } }), { code: 'MESH_OWN_CERTIFICATE_INVALID' })
      await certify(caDir, d)
      assert.throws(() => meshFor(d, { caCertPem, init: { domain: 'domain-e' } }), { code: 'MESH_OWN_CERTIFICATE_INVALID' })
      assert.throws(() => meshFor(d, { init: { certificates: { caCertPem: d.certPem as string, certPem: d.certPem as string } } }), { code: 'MESH_OWN_CERTIFICATE_INVALID' })
    })

    it('has no revocation without a CA', () => {
      const M = meshFor(listed, { members: [a] })
      assert.throws(() => M.setRevocationList({}), { code: 'MESH_NO_CA' })
      assert.equal(M.certificateOf(a.peerId), null)
      assert.equal(M.revocationList(), null)
    })
  })
})

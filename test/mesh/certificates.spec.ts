import { strict as assert } from 'node:assert'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createRevocationList, initCa, issueDomainCertificate, type IssuedCertificate } from '../../identity/index.ts'
import { AllowlistPolicy, CertificatePolicy, type CertifiedPeer } from '../../mesh/index.ts'
import { cleanup, tempDir } from '../helpers/index.ts'

async function newPeerId (): Promise<string> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
}

/** The membership policy on its own: who is a member, who may connect, what revocation changes. */
describe('mesh: CertificatePolicy', () => {
  let caDir: string
  let caCertPem: string
  let self: string, peerB: string, peerC: string, listed: string
  let own: IssuedCertificate, certB: IssuedCertificate, certC: IssuedCertificate
  let certified: CertifiedPeer[]
  let policy: CertificatePolicy

  before(async () => {
    caDir = join(await tempDir('cmesh-ca-'), 'ca')
    caCertPem = (await initCa({ dir: caDir, name: 'continuum' })).certPem
    ;[self, peerB, peerC, listed] = await Promise.all([newPeerId(), newPeerId(), newPeerId(), newPeerId()])
    ;[own, certB, certC] = await Promise.all([
      issueDomainCertificate({ caDir, domain: 'domain-a', fqdn: 'a.test', peerId: self }),
      issueDomainCertificate({ caDir, domain: 'domain-b', fqdn: 'b.test', peerId: peerB }),
      issueDomainCertificate({ caDir, domain: 'domain-c', fqdn: 'c.test', peerId: peerC })
    ])
  })

  beforeEach(() => {
    certified = []
    policy = new CertificatePolicy({
      base: new AllowlistPolicy(self, [listed]),
      onCertified: (p) => { certified.push(p) }
    }, { self, caCertPem, certPem: own.certPem, refusalCooldownMs: 200 })
  })

  after(cleanup)

  it('knows its own certificate, and refuses one issued to another peer', () => {
    assert.equal(policy.own.domain, 'domain-a')
    assert.equal(policy.own.serial, own.serial)
    assert.throws(() => new CertificatePolicy({ base: new AllowlistPolicy(self, []) }, { self, caCertPem, certPem: certB.certPem }), { code: 'MESH_OWN_CERTIFICATE_INVALID' })
  })

  it('makes a peer with a valid certificate a member, and lets unknown peers connect to present one', () => {
    assert.equal(policy.isMember(self), true)
    assert.equal(policy.isMember(listed), true)
    assert.equal(policy.isMember(peerB), false)
    assert.equal(policy.connectionRefusal(peerB), null, 'unknown peers may connect')
    const check = policy.verify(peerB, certB.certPem, 'connection')
    assert.ok(check.ok && check.changed)
    assert.equal(policy.isMember(peerB), true)
    assert.deepEqual(certified.map(p => [p.peerId, p.domain, p.serial, p.source]), [[peerB, 'domain-b', certB.serial, 'connection']])
    // The same certificate again: no new event, source upgraded to a direct connection.
    assert.ok(policy.verify(peerB, certB.certPem, 'heartbeat').ok)
    assert.equal(certified.length, 1)
    assert.equal(policy.certificateOf(peerB)?.source, 'connection')
  })

  it('refuses certificates of another peer, of this node\'s own domain, or garbage, and records none', () => {
    const mismatch = policy.verify(peerC, certB.certPem, 'connection')
    assert.ok(!mismatch.ok && /peer-mismatch/.test(mismatch.reason))
    const mine = policy.verify(self, own.certPem, 'connection')
    assert.ok(!mine.ok && /own domain/.test(mine.reason))
    for (const junk of [undefined, 42, '', 'not a certificate', 'x'.repeat(10_000)]) {
      const r = policy.verify(peerC, junk, 'connection')
      assert.ok(!r.ok, String(junk).slice(0, 20))
    }
    assert.equal(policy.certificateOf(peerC), null)
    assert.equal(policy.isMember(peerC), false)
  })

  it('refuses a peer for a while after it failed, and no longer once it proved membership', async () => {
    policy.refuseFor(peerC, 'no certificate presented within 5000 ms')
    assert.match(policy.connectionRefusal(peerC) ?? '', /no certificate/)
    assert.equal(policy.isRefused(peerC), true)
    await new Promise(resolve => setTimeout(resolve, 250))
    assert.equal(policy.connectionRefusal(peerC), null, 'the cooldown is over')
    policy.refuseFor(peerC, 'again')
    assert.ok(policy.verify(peerC, certC.certPem, 'heartbeat').ok)
    assert.equal(policy.connectionRefusal(peerC), null, 'a valid certificate lifts it')
  })

  it('revokes known certificates, even of allowlisted peers, and refuses them from then on', async () => {
    const allowlistedWithCert = new CertificatePolicy({ base: new AllowlistPolicy(self, [peerB]) }, { self, caCertPem, certPem: own.certPem })
    assert.ok(allowlistedWithCert.verify(peerB, certB.certPem, 'connection').ok)
    assert.ok(policy.verify(peerC, certC.certPem, 'connection').ok)
    const list = await createRevocationList({ caDir, serials: [certB.serial] })
    assert.deepEqual(allowlistedWithCert.setRevocationList(list), { applied: true, sequence: 1, revokedPeers: [peerB] })
    assert.equal(allowlistedWithCert.isMember(peerB), false)
    assert.match(allowlistedWithCert.connectionRefusal(peerB) ?? '', /revoked/)
    assert.equal(allowlistedWithCert.certificateOf(peerB)?.revoked, true)
    // Presenting it again does not help, and a peer only on the allowlist is untouched.
    const again = allowlistedWithCert.verify(peerB, certB.certPem, 'connection')
    assert.ok(!again.ok && again.revoked)
    assert.equal(policy.setRevocationList(list).revokedPeers.length, 0, 'B is unknown to this policy')
    assert.equal(policy.isMember(listed), true)
    assert.equal(policy.isMember(peerC), true)
    // A revoked certificate met for the first time after the list is remembered as revoked.
    const late = policy.verify(peerB, certB.certPem, 'heartbeat')
    assert.ok(!late.ok && late.revoked)
    assert.match(policy.connectionRefusal(peerB) ?? '', /revoked/)
    assert.equal(certified.some(p => p.peerId === peerB), false)
  })

  it('verifies revocation lists and keeps the newest', async () => {
    assert.throws(() => policy.setRevocationList({ nope: true }), { code: 'IDENTITY_REVOCATION_LIST_INVALID' })
    const first = await createRevocationList({ caDir, serials: ['0a'] })
    const second = await createRevocationList({ caDir, serials: [certC.serial], previous: first })
    assert.ok(policy.verify(peerC, certC.certPem, 'connection').ok)
    assert.deepEqual(policy.setRevocationList(second), { applied: true, sequence: 2, revokedPeers: [peerC] })
    assert.deepEqual(policy.setRevocationList(first), { applied: false, sequence: 2, revokedPeers: [] })
    assert.equal(policy.revocationList()?.sequence, 2)
    assert.equal(policy.ownRevoked(), false)
  })
})

import { strict as assert } from 'node:assert'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import {
  createRevocationList, initCa, isNewerRevocationList, isRevoked, issueDomainCertificate, verifyDomainCertificate,
  verifyRevocationList, type CaInfo, type IssuedCertificate, type RevocationList
} from '../../identity/index.ts'
import { cleanupTempDirs, rejectsWithCode, tempDir } from './fixtures.ts'

const INVALID = { code: 'IDENTITY_REVOCATION_LIST_INVALID' }

describe('identity: revocation list', () => {
  let caDir: string
  let ca: CaInfo
  let peerId: string
  let issued: IssuedCertificate
  let first: RevocationList

  before(async () => {
    caDir = join(await tempDir(), 'ca')
    ca = await initCa({ dir: caDir, name: 'continuum' })
    peerId = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    issued = await issueDomainCertificate({ caDir, domain: 'domain-a', fqdn: 'domain-a.local', peerId })
    first = await createRevocationList({ caDir, serials: ['0A:BC:01', 'FF00'] })
  })
  after(cleanupTempDirs)

  it('is plain JSON naming the CA, with canonical sorted serials and sequence 1, and verifies', () => {
    assert.deepEqual(Object.keys(first).sort(), ['issuedAt', 'issuer', 'sequence', 'serials', 'signature'])
    assert.equal(first.issuer, ca.fingerprint)
    assert.deepEqual(first.serials, ['abc01', 'ff00'])
    assert.equal(first.sequence, 1)
    assert.ok(!Number.isNaN(Date.parse(first.issuedAt)))
    // Through JSON and with keys in another order (as a store might hand it back): still valid.
    const roundTrip = JSON.parse(JSON.stringify({ signature: first.signature, serials: first.serials, sequence: first.sequence, issuer: first.issuer, issuedAt: first.issuedAt }))
    assert.deepEqual(verifyRevocationList(roundTrip, ca.certPem), first)
  })

  it('answers isRevoked for any spelling of a serial', () => {
    assert.equal(isRevoked(first, 'ABC01'), true)
    assert.equal(isRevoked(first, '0a:bc:01'), true)
    assert.equal(isRevoked(first, '000abc01'), true)
    assert.equal(isRevoked(first, 'abc02'), false)
  })

  it('continues from a previous list: serials kept, sequence + 1', async () => {
    const second = await createRevocationList({ caDir, serials: [issued.serial], previous: first })
    assert.equal(second.sequence, 2)
    assert.deepEqual(second.serials, [...first.serials, issued.serial].sort())
    assert.equal(isNewerRevocationList(second, first), true)
    assert.equal(isNewerRevocationList(first, second), false)
    assert.equal(isNewerRevocationList(first, null), true)
    verifyRevocationList(second, ca.certPem)
  })

  it('makes verifyDomainCertificate refuse a revoked certificate', async () => {
    verifyDomainCertificate(issued.certPem, ca.certPem, { peerId, revocationList: first })
    const list = await createRevocationList({ caDir, serials: [issued.serial], previous: first })
    assert.throws(() => verifyDomainCertificate(issued.certPem, ca.certPem, { peerId, revocationList: list }), { code: 'IDENTITY_CERT_REVOKED' })
  })

  it('refuses a tampered list', () => {
    const cases: Array<Record<string, unknown>> = [
      { ...first, serials: [...first.serials, 'abcd'] },
      { ...first, serials: first.serials.slice(1) },
      { ...first, sequence: 99 },
      { ...first, issuedAt: new Date(0).toISOString() },
      { ...first, signature: Buffer.from('forged').toString('base64') },
      { ...first, serials: ['ABC01', 'ff00'] },
      { ...first, extra: 'unsigned' },
      { ...first, sequence: 0 },
      { issuer: first.issuer, serials: first.serials, sequence: first.sequence, signature: first.signature }
    ]
    for (const doc of cases) assert.throws(() => verifyRevocationList(doc, ca.certPem), INVALID, JSON.stringify(doc))
    for (const doc of [null, 'list', [], 42]) assert.throws(() => verifyRevocationList(doc, ca.certPem), INVALID)
  })

  it('refuses a list checked against another CA', async () => {
    const other = await initCa({ dir: join(await tempDir(), 'ca'), name: 'continuum' })
    assert.throws(() => verifyRevocationList(first, other.certPem), { ...INVALID, message: /another CA/ })
    // A list whose issuer field is rewritten to the other CA fails on the signature instead.
    assert.throws(() => verifyRevocationList({ ...first, issuer: other.fingerprint }, other.certPem), { ...INVALID, message: /signature/ })
  })

  it('refuses to build on a tampered previous list', async () => {
    await rejectsWithCode(createRevocationList({ caDir, serials: [], previous: { ...first, sequence: 1000 } }), 'IDENTITY_REVOCATION_LIST_INVALID')
    await rejectsWithCode(createRevocationList({ caDir, serials: ['not hex'] }), 'IDENTITY_INVALID_ARGUMENT')
  })
})

import { strict as assert } from 'node:assert'
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { readFile, rm, stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:https'
import { connect } from 'node:tls'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import {
  CA_CERT_FILE, CA_KEY_FILE, DOMAIN_KEY_FILE, initCa, issueDomainCertificate, readDomainCertificate,
  verifyDomainCertificate, writeDomainCertificate, type CaInfo, type IssuedCertificate
} from '../../identity/index.ts'
import { cleanupTempDirs, rejectsWithCode, tempDir } from './fixtures.ts'

const DAY = 86_400_000

async function newPeerId (): Promise<string> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
}

function invalid (reason: string): { code: string, reason: string } {
  return { code: 'IDENTITY_CERT_INVALID', reason }
}

describe('identity: federation CA and domain certificates', () => {
  let caDir: string
  let ca: CaInfo
  let peerId: string
  let issued: IssuedCertificate

  before(async () => {
    caDir = join(await tempDir(), 'ca')
    ca = await initCa({ dir: caDir, name: 'continuum' })
    peerId = await newPeerId()
    issued = await issueDomainCertificate({ caDir, domain: 'domain-a', fqdn: 'domain-a.continuum.local', peerId })
  })
  after(cleanupTempDirs)

  describe('initCa', () => {
    it('writes ca.key with mode 0600 and a self-signed CA certificate', async () => {
      assert.equal((await stat(join(caDir, CA_KEY_FILE))).mode & 0o777, 0o600)
      const certPem = await readFile(join(caDir, CA_CERT_FILE), 'utf8')
      assert.equal(certPem, ca.certPem)
      const x = new X509Certificate(certPem)
      assert.equal(x.ca, true)
      assert.match(x.subject, /CN=continuum federation CA/)
      assert.ok(x.verify(x.publicKey))
      assert.equal(x.fingerprint256, ca.fingerprint)
      assert.ok(ca.notAfter.getTime() > Date.now() + 9 * 365 * DAY)
    })

    it('refuses to overwrite an existing CA and leaves it untouched', async () => {
      const keyBefore = await readFile(join(caDir, CA_KEY_FILE), 'utf8')
      await rejectsWithCode(initCa({ dir: caDir, name: 'continuum' }), 'IDENTITY_CA_EXISTS')
      assert.equal(await readFile(join(caDir, CA_KEY_FILE), 'utf8'), keyBefore)
      const half = await tempDir()
      await writeFile(join(half, CA_CERT_FILE), 'left over')
      await rejectsWithCode(initCa({ dir: half, name: 'continuum' }), 'IDENTITY_CA_EXISTS')
    })

    it('refuses a bad federation name', async () => {
      await rejectsWithCode(initCa({ dir: await tempDir(), name: 'no spaces please' }), 'IDENTITY_INVALID_ARGUMENT')
    })
  })

  describe('issueDomainCertificate', () => {
    it('binds CN, FQDN, peer id and domain URN, for TLS server and client use, with a random serial', () => {
      const x = new X509Certificate(issued.certPem)
      assert.match(x.subject, /^CN=domain-a$/m)
      assert.equal(x.subjectAltName, `DNS:domain-a.continuum.local, URI:urn:cmesh:peer:${peerId}, URI:urn:cmesh:domain:domain-a`)
      assert.deepEqual(x.keyUsage?.sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'])
      assert.equal(x.ca, false)
      assert.equal(x.serialNumber.toLowerCase(), issued.serial)
      assert.match(issued.serial, /^[0-9a-f]{32}$/)
      assert.match(issued.keyPem, /BEGIN RSA PRIVATE KEY/)
      assert.ok(x.checkPrivateKey(createPrivateKey(issued.keyPem)))
    })

    it('refuses bad names, a bad peer id and a missing CA', async () => {
      const base = { caDir, domain: 'domain-b', fqdn: 'domain-b.local', peerId }
      await rejectsWithCode(issueDomainCertificate({ ...base, domain: 'Domain_B' }), 'IDENTITY_INVALID_ARGUMENT')
      await rejectsWithCode(issueDomainCertificate({ ...base, fqdn: 'not a host' }), 'IDENTITY_INVALID_ARGUMENT')
      await rejectsWithCode(issueDomainCertificate({ ...base, peerId: 'QmNotAPeer' }), 'IDENTITY_INVALID_ARGUMENT')
      await rejectsWithCode(issueDomainCertificate({ ...base, caDir: await tempDir() }), 'IDENTITY_CA_NOT_FOUND')
    })

    it('refuses a CA directory whose key does not match its certificate', async () => {
      const other = join(await tempDir(), 'ca')
      await initCa({ dir: other, name: 'continuum' })
      const mixed = await tempDir()
      await writeFile(join(mixed, CA_CERT_FILE), ca.certPem)
      await writeFile(join(mixed, CA_KEY_FILE), await readFile(join(other, CA_KEY_FILE)))
      await rejectsWithCode(issueDomainCertificate({ caDir: mixed, domain: 'domain-b', fqdn: 'domain-b.local', peerId }), 'IDENTITY_CA_NOT_FOUND')
    })
  })

  describe('verifyDomainCertificate', () => {
    it('accepts a certificate from the federation CA and returns what it binds', () => {
      const v = verifyDomainCertificate(issued.certPem, ca.certPem, { peerId })
      assert.deepEqual(v, { domain: 'domain-a', fqdn: 'domain-a.continuum.local', peerId, serial: issued.serial, notAfter: v.notAfter })
      assert.ok(Math.abs(v.notAfter.getTime() - issued.notAfter.getTime()) < 1000)
    })

    it('refuses a certificate presented by another peer', async () => {
      assert.throws(() => verifyDomainCertificate(issued.certPem, ca.certPem, { peerId: 'not-a-peer-id' }), invalid('peer-mismatch'))
      const other = await newPeerId()
      assert.throws(() => verifyDomainCertificate(issued.certPem, ca.certPem, { peerId: other }), invalid('peer-mismatch'))
    })

    it('refuses a certificate from another CA, even one with the same name', async () => {
      const otherDir = join(await tempDir(), 'ca')
      const other = await initCa({ dir: otherDir, name: 'continuum' })
      const foreign = await issueDomainCertificate({ caDir: otherDir, domain: 'domain-a', fqdn: 'domain-a.continuum.local', peerId })
      assert.throws(() => verifyDomainCertificate(foreign.certPem, ca.certPem, { peerId }), invalid('chain'))
      assert.throws(() => verifyDomainCertificate(issued.certPem, other.certPem, { peerId }), invalid('chain'))
    })

    it('refuses an expired certificate and one not valid yet', () => {
      const later = new Date(issued.notAfter.getTime() + DAY)
      assert.throws(() => verifyDomainCertificate(issued.certPem, ca.certPem, { now: later }), invalid('expired'))
      const earlier = new Date(Date.now() - DAY)
      assert.throws(() => verifyDomainCertificate(issued.certPem, ca.certPem, { now: earlier }), invalid('not-yet-valid'))
      // ...while the domain certificate's own lifetime is a year.
      verifyDomainCertificate(issued.certPem, ca.certPem, { now: new Date(Date.now() + 300 * DAY) })
    })

    it('refuses the CA certificate itself as a domain certificate, and garbage', () => {
      assert.throws(() => verifyDomainCertificate(ca.certPem, ca.certPem), invalid('not-a-domain-certificate'))
      assert.throws(() => verifyDomainCertificate('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', ca.certPem), invalid('malformed'))
      assert.throws(() => verifyDomainCertificate(issued.certPem, 'nope'), invalid('malformed'))
      assert.throws(() => verifyDomainCertificate(issued.certPem, issued.certPem), invalid('chain'))
    })
  })

  describe('using the certificate', () => {
    it('stores certificate, key (0600) and CA in a data dir and reads them back', async () => {
      const dir = await tempDir()
      assert.equal(await readDomainCertificate(dir), null)
      await writeDomainCertificate(dir, { certPem: issued.certPem, keyPem: issued.keyPem, caCertPem: ca.certPem })
      assert.equal((await stat(join(dir, DOMAIN_KEY_FILE))).mode & 0o777, 0o600)
      assert.deepEqual(await readDomainCertificate(dir), { certPem: issued.certPem, keyPem: issued.keyPem, caCertPem: ca.certPem })
      // Renewal writes over the old files; a half-written set is an error, not "no certificate".
      await writeDomainCertificate(dir, { certPem: issued.certPem, keyPem: issued.keyPem, caCertPem: ca.certPem })
      await rm(join(dir, DOMAIN_KEY_FILE))
      await assert.rejects(readDomainCertificate(dir), invalid('malformed'))
    })

    it('serves HTTPS that a client trusting only the federation CA accepts for the FQDN', async () => {
      const server = createServer({ cert: issued.certPem, key: issued.keyPem }, (_req, res) => { res.end('ok') })
      await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
      try {
        const port = (server.address() as { port: number }).port
        const peerCert = await new Promise<string>((resolve, reject) => {
          const socket = connect({ host: '127.0.0.1', port, ca: ca.certPem, servername: 'domain-a.continuum.local' }, () => {
            resolve(socket.getPeerX509Certificate()?.toString() ?? '')
            socket.end()
          })
          socket.once('error', reject)
        })
        assert.equal(verifyDomainCertificate(peerCert, ca.certPem, { peerId }).domain, 'domain-a')
        await assert.rejects(new Promise((resolve, reject) => {
          const socket = connect({ host: '127.0.0.1', port, ca: ca.certPem, servername: 'elsewhere.local' }, () => { socket.end(); resolve(null) })
          socket.once('error', reject)
        }), /altnames|ERR_TLS_CERT_ALTNAME_INVALID|does not match/i)
      } finally {
        server.closeAllConnections()
        await new Promise(resolve => server.close(resolve))
      }
    })
  })
})


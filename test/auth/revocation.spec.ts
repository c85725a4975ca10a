import { strict as assert } from 'node:assert'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createRevocationList, initCa, issueDomainCertificate, writeDomainCertificate } from '../../identity/index.ts'
import type { ContinuumNode } from '../../src/node.ts'
import { api, cleanup, nodeFor, prepareDomain, registerSecret, tempDir, waitFor, type TestDomain } from '../helpers/index.ts'
import { addUsers } from './fixtures.ts'

const bearer = (t: string): Record<string, string> => ({ authorization: `Bearer ${t}` })

/**
 * Membership by federation certificate, end to end through the node: three domains with empty
 * allowlists join because their certificates chain to the CA, serve HTTPS, and a revocation list
 * posted to one domain replicates, disconnects the revoked domain everywhere and makes its tokens
 * worthless.
 */
describe('federation CA: membership by certificate, HTTPS, revocation', function () {
  this.timeout(120_000)
  let caDir: string
  let a: TestDomain, b: TestDomain, c: TestDomain
  let A: ContinuumNode, B: ContinuumNode, C: ContinuumNode
  const serials = new Map<string, string>()
  let caPem = ''

  // Node's fetch trusts the system CAs only: talk HTTPS to the nodes with the federation CA.
  const https = async (node: ContinuumNode, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number, body: any }> => {
    const { request } = await import('node:https')
    const url = new URL(node.apiUrl + path)
    return await new Promise((resolve, reject) => {
      const req = request(url, { method, ca: caPem, servername: 'localhost', headers: { ...(body != null ? { 'content-type': 'application/json' } : {}), ...headers }, checkServerIdentity: () => undefined }, (res) => {
        let text = ''
        res.on('data', (d: Buffer) => { text += d.toString() })
        res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: text === '' ? undefined : JSON.parse(text) }) })
      })
      req.on('error', reject)
      if (body != null) req.write(JSON.stringify(body))
      req.end()
    })
  }

  before(async () => {
    caDir = await tempDir()
    await initCa({ dir: caDir, name: 'test' })
    caPem = await readFile(join(caDir, 'ca.crt'), 'utf8')
    registerSecret((await readFile(join(caDir, 'ca.key'), 'utf8')).split('\n')[1])
    ;[a, b, c] = await Promise.all(['domain-a', 'domain-b', 'domain-c'].map(prepareDomain))
    for (const d of [a, b, c]) {
      const cert = await issueDomainCertificate({ caDir, domain: d.name, fqdn: `${d.name}.test.local`, peerId: d.peerId })
      registerSecret(cert.keyPem.split('\n')[1])
      await writeDomainCertificate(d.dataDir, { certPem: cert.certPem, keyPem: cert.keyPem, caCertPem: caPem })
      serials.set(d.name, cert.serial)
      await addUsers(d)
    }
    // Empty allowlists: the certificates are the only proof of membership.
    A = nodeFor(a, { members: [], auth: true })
    B = nodeFor(b, { members: [], bootstrap: [a], auth: true })
    C = nodeFor(c, { members: [], bootstrap: [a], auth: true })
    await A.start()
    await Promise.all([B.start(), C.start()])
    await waitFor(() => [A, B, C].every(n => n.mesh.membership.alivePeers().length === 2), 'the three domains to see each other alive')
  })

  after(cleanup)

  it('serves HTTPS with the domain certificate, and every domain accepts every member\'s tokens', async () => {
    assert.match(A.apiUrl, /^https:/)
    const health = await https(A, 'GET', '/health')
    assert.equal(health.body.tls, true)
    const token = await loginHttps(C)
    await waitFor(async () => (await https(B, 'GET', '/auth/v1/whoami', undefined, bearer(token))).status === 200, 'B to accept C\'s token')
  })

  async function loginHttps (node: ContinuumNode): Promise<string> {
    const { USERS } = await import('./fixtures.ts')
    const res = await https(node, 'POST', '/auth/v1/token', { username: USERS.admin.username, password: USERS.admin.password })
    assert.equal(res.status, 200)
    return res.body.access_token as string
  }

  it('a revocation list posted to one domain disconnects the revoked domain everywhere and voids its tokens', async () => {
    const tokenFromC = await loginHttps(C)
    const adminAtA = await loginHttps(A)
    const list = await createRevocationList({ caDir, serials: [serials.get('domain-c') as string] })
    const listFile = join(caDir, 'revocations.json')
    await writeFile(listFile, JSON.stringify(list))
    const res = await https(A, 'POST', '/federation/v1/revocations', list, bearer(adminAtA))
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(res.body.applied, true)
    await waitFor(() => !B.mesh.libp2p.getConnections().some(conn => conn.remotePeer.toString() === c.peerId) &&
      !A.mesh.libp2p.getConnections().some(conn => conn.remotePeer.toString() === c.peerId), 'A and B to drop C')
    for (const node of [A, B]) {
      assert.equal((await https(node, 'GET', '/auth/v1/whoami', undefined, bearer(tokenFromC))).status, 401, 'C\'s token is refused')
    }
    assert.equal((await https(B, 'GET', '/federation/v1/revocations', undefined, bearer(adminAtA))).body.sequence, 1)
    // C keeps redialling; it stays out.
    await new Promise(resolve => setTimeout(resolve, 1500))
    assert.equal(A.mesh.libp2p.getConnections().some(conn => conn.remotePeer.toString() === c.peerId), false)
  })

  it('refuses a revocation list not signed by the federation CA, and an older one', async () => {
    const adminAtA = await loginHttps(A)
    const otherCa = await tempDir()
    await initCa({ dir: otherCa, name: 'test' })
    const forged = await createRevocationList({ caDir: otherCa, serials: [serials.get('domain-b') as string] })
    assert.equal((await https(A, 'POST', '/federation/v1/revocations', forged, bearer(adminAtA))).status, 400)
    const older = await createRevocationList({ caDir, serials: [] })
    const r = await https(A, 'POST', '/federation/v1/revocations', older, bearer(adminAtA))
    assert.equal(r.body.applied, false, 'sequence 1 again: nothing changes')
    assert.ok(B.mesh.libp2p.getConnections().some(conn => conn.remotePeer.toString() === a.peerId), 'B is still in')
  })

})

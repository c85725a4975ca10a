import { strict as assert } from 'node:assert'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { issueToken } from '../../identity/index.ts'
import type { ContinuumNode } from '../../src/node.ts'
import { startSlapd, type Slapd } from '../helpers/slapd.ts'
import { contractLdif, SERVICE_PASSWORD } from '../identity/ldap-fixtures.ts'
import { CONTRACT_USERS } from '../identity/fixtures.ts'
import { api, cleanup, nodeFor, prepareDomain, registerSecret, tempDir, waitFor, type TestDomain } from '../helpers/index.ts'
import { addUsers, login, USERS } from './fixtures.ts'

const bearer = (t: string): Record<string, string> => ({ authorization: `Bearer ${t}` })

/**
 * Tokens across domains and users from a real OpenLDAP (Debian slapd on a loopback port):
 * domain B authenticates its users against LDAP; a token issued by either domain works at the
 * other; tokens signed by keys outside the federation do not; an unreachable LDAP makes logins
 * answer 503 while issued tokens keep working.
 */
describe('identity across the federation, with LDAP', function () {
  this.timeout(120_000)
  let a: TestDomain, b: TestDomain
  let A: ContinuumNode, B: ContinuumNode
  let ldap: Slapd

  before(async () => {
    for (const u of CONTRACT_USERS) registerSecret(u.password)
    registerSecret(SERVICE_PASSWORD)
    ldap = await startSlapd()
    await ldap.addLdif(await contractLdif(ldap))
    const secrets = await tempDir()
    const passwordFile = join(secrets, 'ldap-bind.pw')
    await writeFile(passwordFile, SERVICE_PASSWORD + '\n', { mode: 0o600 })
    ;[a, b] = await Promise.all(['domain-a', 'domain-b'].map(prepareDomain))
    await addUsers(a)
    A = nodeFor(a, { members: [b], auth: true })
    B = nodeFor(b, {
      members: [a],
      bootstrap: [a],
      auth: true,
      config: {
        auth: {
          directory: { type: 'ldap', url: ldap.url, bindDN: `cn=cmesh-reader,${ldap.suffix}`, bindPasswordFile: passwordFile, userBase: ldap.peopleDN, groupBase: ldap.groupsDN, timeoutMs: 1000 },
          roleMapping: { 'Vertical deployer': ['deployer'] }
        }
      }
    })
    await A.start()
    await B.start()
    // Each needs the other's Domain entity (its signing key) to accept its tokens.
    await waitFor(async () => (await B.ngsi.store.get('urn:ngsi-ld:Domain:domain-a')) != null && (await A.ngsi.store.get('urn:ngsi-ld:Domain:domain-b')) != null, 'the Domain entities to replicate')
  })

  after(async () => {
    await cleanup()
    await ldap?.stop()
  })

  it('logs in an LDAP user at B with roles from its groups', async () => {
    const alice = CONTRACT_USERS[0]
    const res = await api(B, 'POST', '/auth/v1/token', { username: alice.username, password: alice.password })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.deepEqual(res.body.roles, ['deployer', 'admin'])
    assert.equal(res.body.issuer, 'domain-b')
    const wrong = await api(B, 'POST', '/auth/v1/token', { username: alice.username, password: 'nope-nope-nope' })
    assert.equal(wrong.status, 401)
  })

  it('a token issued at A works at B, and one issued at B works at A', async () => {
    const fromA = await login(A, 'operator')
    const me = await api(B, 'GET', '/auth/v1/whoami', undefined, bearer(fromA))
    assert.equal(me.status, 200)
    assert.deepEqual(me.body, { subject: USERS.operator.username, roles: ['operator'], issuer: 'domain-a' })
    const alice = CONTRACT_USERS[0]
    const fromB = (await api(B, 'POST', '/auth/v1/token', { username: alice.username, password: alice.password })).body.access_token as string
    assert.equal((await api(A, 'POST', '/ngsi-ld/v1/entities', { id: 'urn:ngsi-ld:Service:x', type: 'Service' }, bearer(fromB))).status, 201)
  })

  it('refuses tokens signed by a key outside the federation, even under a member\'s name', async () => {
    const outsider = await generateKeyPair('Ed25519')
    for (const issuer of ['domain-x', 'domain-a']) {
      const { token } = await issueToken({ privateKey: outsider, issuer, subject: 'mallory', roles: ['admin'], audience: 'test' })
      const res = await api(B, 'GET', '/mesh/v1/peers', undefined, bearer(token))
      assert.equal(res.status, 401, `issuer ${issuer}`)
    }
  })

  it('refreshes a token at its issuer', async () => {
    const u = USERS.viewer
    const first = (await api(A, 'POST', '/auth/v1/token', { username: u.username, password: u.password })).body
    const next = await api(A, 'POST', '/auth/v1/refresh', { refresh_token: first.refresh_token })
    assert.equal(next.status, 200)
    assert.equal((await api(B, 'GET', '/auth/v1/whoami', undefined, bearer(next.body.access_token))).body.subject, u.username)
    assert.equal((await api(A, 'POST', '/auth/v1/refresh', { refresh_token: first.access_token })).status, 401, 'an access token is no refresh token')
  })

  it('with LDAP down, logins answer 503 and tokens already issued keep working', async () => {
    const alice = CONTRACT_USERS[0]
    const token = (await api(B, 'POST', '/auth/v1/token', { username: alice.username, password: alice.password })).body.access_token as string
    await ldap.stop()
    const res = await api(B, 'POST', '/auth/v1/token', { username: alice.username, password: alice.password })
    assert.equal(res.status, 503)
    assert.match(res.body.detail, /unavailable|unreachable|directory/i)
    assert.equal((await api(B, 'GET', '/auth/v1/whoami', undefined, bearer(token))).status, 200)
  })

  it('limits the rate of logins per client', async () => {
    const d = await prepareDomain('limited')
    const L = nodeFor(d, { members: [], auth: true, config: { auth: { loginRateLimit: 3 } } })
    await L.start()
    const statuses: number[] = []
    for (let i = 0; i < 5; i++) statuses.push((await api(L, 'POST', '/auth/v1/token', { username: 'x', password: 'y-y-y-y-y' })).status)
    assert.deepEqual(statuses, [401, 401, 401, 429, 429])
  })
})

/**
 * Secrets never leave the identity module: drive every failure path we have with known passwords
 * and keys, keep every log line and every error, and look for the secrets in them.
 */
import { strict as assert } from 'node:assert'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import {
  addUser, CA_KEY_FILE, createRevocationList, EmbeddedDirectory, exportPublicKey, importPublicKey, initCa,
  issueDomainCertificate, issueRefreshToken, issueToken, LdapDirectory, refresh, setPassword, USERS_FILE_NAME,
  verifyDomainCertificate, verifyRevocationList, verifyToken
} from '../../identity/index.ts'
import { freePort, startSlapd, type Slapd } from '../helpers/slapd.ts'
import { CONTRACT_USERS, cleanupTempDirs, memoryLogger, tempDir } from './fixtures.ts'
import { contractLdif, SERVICE_PASSWORD } from './ldap-fixtures.ts'

describe('identity: no secrets in logs or errors', () => {
  let ldap: Slapd
  before(async () => {
    ldap = await startSlapd()
    await ldap.addLdif(await contractLdif(ldap))
  })
  after(async () => {
    await ldap?.stop()
    await cleanupTempDirs()
  })

  it('keeps test passwords and private key material out of every log line and error', async () => {
    const { logger, lines } = memoryLogger()
    const errors: unknown[] = []
    const attempt = async (fn: () => unknown): Promise<void> => {
      try { await fn() } catch (err) { errors.push(err) }
    }
    const [alice] = CONTRACT_USERS
    const secrets = new Set<string>([...CONTRACT_USERS.map(u => u.password), SERVICE_PASSWORD, ldap.rootPassword])
    const NEW_PASSWORD = 'brand-New-Secret-31'
    const SHORT_PASSWORD = 'Sh0rt!x'
    secrets.add(NEW_PASSWORD).add(SHORT_PASSWORD)

    // Embedded directory: logins, management, a corrupt file.
    const dir = await tempDir()
    const file = join(dir, USERS_FILE_NAME)
    for (const u of CONTRACT_USERS) await addUser(file, u)
    const embedded = new EmbeddedDirectory({ file }, { logger })
    await embedded.start()
    await embedded.authenticate(alice.username, alice.password)
    await attempt(() => embedded.authenticate(alice.username, CONTRACT_USERS[1].password))
    await attempt(() => embedded.authenticate('mallory', alice.password))
    await attempt(() => addUser(file, { username: 'dave', password: SHORT_PASSWORD }))
    await attempt(() => addUser(file, { username: alice.username, password: NEW_PASSWORD }))
    await attempt(() => setPassword(file, 'nobody', NEW_PASSWORD))
    await setPassword(file, alice.username, NEW_PASSWORD)
    const corrupt = join(dir, 'corrupt.json')
    await writeFile(corrupt, `{"version":1,"users":[{"username":"x","password":"${alice.password}"}]}`)
    await attempt(() => new EmbeddedDirectory({ file: corrupt }, { logger }).start())
    await attempt(() => new EmbeddedDirectory({ file: corrupt }, { logger }).authenticate('x', alice.password))
    await writeFile(corrupt, `not json ${alice.password}`)
    await attempt(() => new EmbeddedDirectory({ file: corrupt }, { logger }).authenticate('x', alice.password))

    // LDAP: logins, a wrong service password, a closed port, a stopped server comes last.
    const config = { url: ldap.url, bindDN: `cn=cmesh-reader,${ldap.suffix}`, bindPassword: SERVICE_PASSWORD, userBase: ldap.peopleDN, groupBase: ldap.groupsDN, timeoutMs: 1000 }
    const directory = new LdapDirectory(config, { logger })
    await directory.authenticate(alice.username, alice.password)
    await attempt(() => directory.authenticate(alice.username, NEW_PASSWORD))
    await attempt(() => directory.authenticate('*)(uid=*', alice.password))
    await attempt(() => new LdapDirectory({ ...config, bindPassword: alice.password }, { logger }).authenticate(alice.username, alice.password))
    await attempt(() => new LdapDirectory({ ...config, bindDN: `cn=admin,${ldap.suffix}`, bindPassword: NEW_PASSWORD }, { logger }).authenticate(alice.username, alice.password))
    await attempt(async () => new LdapDirectory({ ...config, url: `ldap://127.0.0.1:${await freePort()}` }, { logger }).authenticate(alice.username, alice.password))

    // CA and certificates: a CA key file that is garbage (with key-like text), foreign certificates.
    const caDir = join(await tempDir(), 'ca')
    const ca = await initCa({ dir: caDir, name: 'continuum' })
    const caKeyPem = await readFile(join(caDir, CA_KEY_FILE), 'utf8')
    const domainKey = await generateKeyPair('Ed25519')
    const peerId = peerIdFromPrivateKey(domainKey).toString()
    const issued = await issueDomainCertificate({ caDir, domain: 'domain-a', fqdn: 'domain-a.local', peerId })
    await attempt(() => initCa({ dir: caDir, name: 'continuum' }))
    const broken = await tempDir()
    await writeFile(join(broken, 'ca.crt'), ca.certPem)
    await writeFile(join(broken, CA_KEY_FILE), caKeyPem.slice(0, 400))
    await attempt(() => issueDomainCertificate({ caDir: broken, domain: 'domain-a', fqdn: 'a.local', peerId }))
    await attempt(() => createRevocationList({ caDir: broken, serials: [] }))
    await attempt(() => verifyDomainCertificate(issued.keyPem, ca.certPem))
    await attempt(() => verifyDomainCertificate(issued.certPem, caKeyPem))
    await attempt(() => verifyDomainCertificate(issued.certPem, ca.certPem, { peerId: 'wrong' }))
    await attempt(() => verifyRevocationList({ issuer: ca.fingerprint, serials: [], issuedAt: 'x', sequence: 1, signature: caKeyPem }, ca.certPem))

    // Tokens: forged, expired, a private key where a public one belongs.
    const rawSeed = Buffer.from(domainKey.raw.subarray(0, 32))
    const other = await generateKeyPair('Ed25519')
    const getIssuerKey = (): string => exportPublicKey(domainKey)
    const forged = (await issueToken({ privateKey: other, issuer: 'domain-a', subject: 'alice', roles: ['admin'], audience: 'c' })).token
    await attempt(() => verifyToken(forged, { audience: 'c', getIssuerKey }))
    const expired = await issueToken({ privateKey: domainKey, issuer: 'domain-a', subject: 'alice', roles: [], audience: 'c', ttlSeconds: 1, now: new Date(0) })
    await attempt(() => verifyToken(expired.token, { audience: 'c', getIssuerKey }))
    await attempt(() => verifyToken(expired.token, { audience: 'c', getIssuerKey: () => `ed25519:${rawSeed.toString('base64url')}x` }))
    await attempt(() => importPublicKey(`ed25519:${rawSeed.toString('base64url')}==`))
    await attempt(() => importPublicKey(caKeyPem))
    const { token: refreshToken } = await issueRefreshToken({ privateKey: domainKey, issuer: 'domain-a', subject: 'alice', roles: [], audience: 'c' })
    await attempt(() => refresh(refreshToken, { privateKey: other, issuer: 'domain-b', audience: 'c' }))

    await ldap.stop()
    await attempt(() => directory.authenticate(alice.username, alice.password))

    // Key material in the forms it could leak in: PEM body lines, raw seed in base64, base64url and hex.
    for (const pem of [caKeyPem, issued.keyPem]) {
      for (const line of pem.split('\n')) if (line.length >= 32 && !line.startsWith('-----')) secrets.add(line)
    }
    for (const enc of ['base64', 'base64url', 'hex'] as const) secrets.add(rawSeed.toString(enc))
    secrets.add(Buffer.from(domainKey.raw).toString('base64'))

    assert.ok(errors.length >= 20, `expected many failures, got ${errors.length}`)
    assert.ok(lines.length >= 8, `expected log lines, got ${lines.length}`)
    const texts = [
      ...lines,
      ...errors.map(e => {
        const err = e as Error & { data?: unknown }
        return `${String(err)}\n${err.stack ?? ''}\n${JSON.stringify(err.data ?? {})}\n${JSON.stringify(err)}`
      })
    ]
    for (const text of texts) {
      for (const secret of secrets) assert.ok(!text.includes(secret), `a secret leaked into: ${text.slice(0, 300)}`)
    }
  })
})

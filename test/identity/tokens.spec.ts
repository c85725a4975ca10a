import { strict as assert } from 'node:assert'
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { base64url, SignJWT } from 'jose'
import {
  exportPublicKey, importPublicKey, issueRefreshToken, issueToken, publicKeyFromPeerId, publicKeyToJwk, refresh,
  verifyRefreshToken, verifyToken, type PublicKeyLike, type VerifyTokenOptions
} from '../../identity/index.ts'
import { rejectsWithCode } from './fixtures.ts'

const AUD = 'continuum'
const INVALID = 'IDENTITY_TOKEN_INVALID'

describe('identity: tokens', () => {
  let keyA: PrivateKey
  let keyB: PrivateKey
  let published: Map<string, string>
  let opts: VerifyTokenOptions

  before(async () => {
    keyA = await generateKeyPair('Ed25519')
    keyB = await generateKeyPair('Ed25519')
    // What the replicated Domain entities would hold.
    published = new Map([['domain-a', exportPublicKey(keyA.publicKey)], ['domain-b', exportPublicKey(keyB.publicKey)]])
    opts = { audience: AUD, getIssuerKey: async d => published.get(d) ?? null }
  })

  const issueA = async (extra: Partial<Parameters<typeof issueToken>[0]> = {}): Promise<string> =>
    (await issueToken({ privateKey: keyA, issuer: 'domain-a', subject: 'alice', roles: ['deployer'], audience: AUD, ...extra })).token

  it('round-trips: a token from domain A verifies at any domain with A\'s published key', async () => {
    const before = Date.now()
    const { token, expiresAt } = await issueToken({ privateKey: keyA, issuer: 'domain-a', subject: 'alice', roles: ['deployer', 'viewer'], audience: AUD })
    const claims = await verifyToken(token, opts)
    assert.equal(claims.subject, 'alice')
    assert.equal(claims.issuer, 'domain-a')
    assert.deepEqual(claims.roles, ['viewer', 'deployer'])
    assert.equal(claims.expiresAt.getTime(), expiresAt.getTime())
    assert.ok(Math.abs(expiresAt.getTime() - (before + 900_000)) < 2000, 'default ttl is 15 minutes')
    assert.match(claims.tokenId, /^[0-9a-f-]{36}$/)
    const [header] = token.split('.')
    assert.deepEqual(JSON.parse(Buffer.from(header, 'base64url').toString()), { alg: 'EdDSA', typ: 'at+jwt' })
  })

  it('accepts the issuer key as published string, libp2p key, raw bytes, JWK, KeyObject or from the peer id', async () => {
    const token = await issueA()
    const forms: PublicKeyLike[] = [
      exportPublicKey(keyA),
      keyA.publicKey,
      keyA.publicKey.raw,
      publicKeyToJwk(keyA),
      importPublicKey(exportPublicKey(keyA)),
      publicKeyFromPeerId(peerIdFromPrivateKey(keyA).toString())
    ]
    for (const key of forms) assert.equal((await verifyToken(token, { ...opts, getIssuerKey: () => key })).subject, 'alice')
    assert.equal(exportPublicKey(publicKeyFromPeerId(peerIdFromPrivateKey(keyA).toString())), exportPublicKey(keyA.publicKey))
    assert.match(exportPublicKey(keyA), /^ed25519:[A-Za-z0-9_-]{43}$/)
  })

  it('signs with a Node KeyObject as well', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519')
    const { token } = await issueToken({ privateKey, issuer: 'domain-c', subject: 'carol', roles: ['viewer'], audience: AUD })
    assert.equal((await verifyToken(token, { ...opts, getIssuerKey: () => exportPublicKey(publicKey) })).subject, 'carol')
  })

  it('refuses an expired token with TokenExpiredError, within the clock tolerance it passes', async () => {
    const hourAgo = new Date(Date.now() - 3600_000)
    await rejectsWithCode(verifyToken(await issueA({ now: hourAgo, ttlSeconds: 60 }), opts), 'IDENTITY_TOKEN_EXPIRED')
    const justExpired = await issueA({ now: new Date(Date.now() - 70_000), ttlSeconds: 60 })
    await verifyToken(justExpired, opts)
    await rejectsWithCode(verifyToken(justExpired, { ...opts, clockToleranceSec: 0 }), 'IDENTITY_TOKEN_EXPIRED')
  })

  it('refuses a token signed by another key than the issuer\'s', async () => {
    const forged = (await issueToken({ privateKey: keyB, issuer: 'domain-a', subject: 'mallory', roles: ['admin'], audience: AUD })).token
    await rejectsWithCode(verifyToken(forged, opts), INVALID)
  })

  it('refuses a token with changed claims', async () => {
    const [h, p, s] = (await issueA()).split('.')
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString())
    const tampered = base64url.encode(JSON.stringify({ ...claims, roles: ['admin'] }))
    await rejectsWithCode(verifyToken(`${h}.${tampered}.${s}`, opts), INVALID)
  })

  it('refuses alg none and HS256 forgeries before looking up any key', async () => {
    let lookups = 0
    const counting: VerifyTokenOptions = { ...opts, getIssuerKey: async d => { lookups++; return published.get(d) ?? null } }
    const now = Math.floor(Date.now() / 1000)
    const payload = { iss: 'domain-a', sub: 'mallory', aud: AUD, roles: ['admin'], typ: 'access', iat: now, exp: now + 600, jti: 'x' }
    const none = `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'at+jwt' }))}.${base64url.encode(JSON.stringify(payload))}.`
    await rejectsWithCode(verifyToken(none, counting), INVALID)
    // The classic confusion: HMAC with the issuer's public key (which anyone can read) as the secret.
    for (const secret of [Buffer.from(published.get('domain-a') as string), Buffer.from(keyA.publicKey.raw)]) {
      const hs = await new SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' }).sign(secret)
      await rejectsWithCode(verifyToken(hs, counting), INVALID)
    }
    assert.equal(lookups, 0)
  })

  it('refuses a refresh token as an access token, and an access token as a refresh token', async () => {
    const { token: refreshToken, expiresAt } = await issueRefreshToken({ privateKey: keyA, issuer: 'domain-a', subject: 'alice', roles: ['deployer'], audience: AUD })
    assert.ok(expiresAt.getTime() > Date.now() + 7 * 3600_000)
    await rejectsWithCode(verifyToken(refreshToken, opts), INVALID)
    assert.equal((await verifyRefreshToken(refreshToken, opts)).subject, 'alice')
    await rejectsWithCode(verifyRefreshToken(await issueA(), opts), INVALID)
    await rejectsWithCode(refresh(await issueA(), { privateKey: keyA, issuer: 'domain-a', audience: AUD }), INVALID)
  })

  it('refreshes: a refresh token from this domain buys a new access token', async () => {
    const { token: refreshToken } = await issueRefreshToken({ privateKey: keyA, issuer: 'domain-a', subject: 'alice', roles: ['deployer'], audience: AUD })
    const fresh = await refresh(refreshToken, { privateKey: keyA, issuer: 'domain-a', audience: AUD })
    const claims = await verifyToken(fresh.token, opts)
    assert.equal(claims.subject, 'alice')
    assert.deepEqual(claims.roles, ['deployer'])
    // Roles looked up again; a removed user gets nothing.
    const promoted = await refresh(refreshToken, { privateKey: keyA, issuer: 'domain-a', audience: AUD, resolveRoles: async () => ['operator'] })
    assert.deepEqual((await verifyToken(promoted.token, opts)).roles, ['operator'])
    await rejectsWithCode(refresh(refreshToken, { privateKey: keyA, issuer: 'domain-a', audience: AUD, resolveRoles: async () => null }), INVALID)
    // Only where it was issued.
    await rejectsWithCode(refresh(refreshToken, { privateKey: keyB, issuer: 'domain-b', audience: AUD }), INVALID)
    const expired = await issueRefreshToken({ privateKey: keyA, issuer: 'domain-a', subject: 'alice', roles: ['viewer'], audience: AUD, ttlSeconds: 60, now: new Date(Date.now() - 3600_000) })
    await rejectsWithCode(refresh(expired.token, { privateKey: keyA, issuer: 'domain-a', audience: AUD }), 'IDENTITY_TOKEN_EXPIRED')
  })

  it('refuses an unknown issuer, a revoked issuer and a malformed published key', async () => {
    const { token } = await issueToken({ privateKey: keyB, issuer: 'domain-x', subject: 'x', roles: ['viewer'], audience: AUD })
    await rejectsWithCode(verifyToken(token, opts), 'IDENTITY_UNKNOWN_ISSUER')
    await rejectsWithCode(verifyToken(await issueA(), { ...opts, isRevoked: d => d === 'domain-a' }), 'IDENTITY_ISSUER_REVOKED')
    await verifyToken(await issueA(), { ...opts, isRevoked: d => d === 'domain-b' })
    await rejectsWithCode(verifyToken(await issueA(), { ...opts, getIssuerKey: () => 'ed25519:short' }), 'IDENTITY_UNKNOWN_ISSUER')
  })

  it('refuses a token for another federation (audience)', async () => {
    await rejectsWithCode(verifyToken(await issueA({ audience: 'other-federation' }), opts), INVALID)
  })

  it('refuses garbage, oversized tokens and missing claims', async () => {
    for (const t of ['', 'abc', 'a.b.c', 'x'.repeat(10_000)]) await rejectsWithCode(verifyToken(t, opts), INVALID)
    // Correctly signed by A but without roles: refused.
    const noRoles = await new SignJWT({ typ: 'access' }).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt' })
      .setIssuer('domain-a').setSubject('alice').setAudience(AUD).setIssuedAt().setExpirationTime('5m').setJti('j')
      .sign(createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: Buffer.from(keyA.raw.subarray(0, 32)).toString('base64url'), x: Buffer.from(keyA.publicKey.raw).toString('base64url') }, format: 'jwk' }))
    await rejectsWithCode(verifyToken(noRoles, opts), INVALID)
  })

  it('drops roles it does not know and refuses to issue them', async () => {
    const jwkKey = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: Buffer.from(keyA.raw.subarray(0, 32)).toString('base64url'), x: Buffer.from(keyA.publicKey.raw).toString('base64url') }, format: 'jwk' })
    const token = await new SignJWT({ typ: 'access', roles: ['superuser', 'viewer'] }).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt' })
      .setIssuer('domain-a').setSubject('alice').setAudience(AUD).setIssuedAt().setExpirationTime('5m').setJti('j')
      .sign(jwkKey)
    assert.deepEqual((await verifyToken(token, opts)).roles, ['viewer'])
    await rejectsWithCode(issueToken({ privateKey: keyA, issuer: 'domain-a', subject: 'a', roles: ['root' as 'admin'], audience: AUD }), 'IDENTITY_INVALID_ARGUMENT')
    assert.equal(exportPublicKey(createPublicKey(jwkKey)), exportPublicKey(keyA))
  })

  it('refuses keys that are not Ed25519', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    await rejectsWithCode(issueToken({ privateKey, issuer: 'domain-a', subject: 'a', roles: [], audience: AUD }), 'IDENTITY_BAD_KEY_FORMAT')
    assert.throws(() => importPublicKey('rsa:abc'), { code: 'IDENTITY_BAD_KEY_FORMAT' })
    assert.throws(() => publicKeyFromPeerId('QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N'), { code: 'IDENTITY_BAD_KEY_FORMAT' })
  })
})

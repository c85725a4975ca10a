import { randomUUID, type KeyObject } from 'node:crypto'
import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, SignJWT, type JWTPayload } from 'jose'
import {
  ACCESS_TOKEN_TTL_SEC, ACCESS_TOKEN_TYPE, MAX_TOKEN_LENGTH, REFRESH_TOKEN_TTL_SEC, REFRESH_TOKEN_TYPE,
  TOKEN_ALGORITHM, TOKEN_CLOCK_TOLERANCE_SEC
} from './constants.ts'
import { InvalidArgumentError, IssuerRevokedError, KeyFormatError, TokenExpiredError, TokenInvalidError, UnknownIssuerError } from './errors.ts'
import { toPrivateKeyObject, toPublicKeyObject, type PrivateKeyLike, type PublicKeyLike } from './ed25519-keys.ts'
import { isRole, ROLES, type Role } from './roles.ts'

/**
 * JWTs signed by a domain's Ed25519 key (EdDSA). Claims: `iss` (domain name), `sub` (username),
 * `aud` (federation name), `roles`, `typ` ('access' | 'refresh'), `iat`, `exp`, `jti`. Any member
 * domain verifies them with the issuer's published public key.
 */

type TokenKind = 'access' | 'refresh'

export interface IssueTokenOptions {
  /** the domain's key (`loadOrCreateDomainKey().privateKey`) */
  privateKey: PrivateKeyLike
  /** the issuing domain's name; verifiers look its key up by this */
  issuer: string
  /** the username */
  subject: string
  roles: Role[]
  /** the federation's name: a token from another federation is refused */
  audience: string
  /** default 900 for access tokens, 28800 for refresh tokens */
  ttlSeconds?: number
  /** issue time; default now */
  now?: Date
}

export interface IssuedToken {
  token: string
  expiresAt: Date
}

/** A short-lived access token. */
export async function issueToken (opts: IssueTokenOptions): Promise<IssuedToken> {
  return await sign('access', opts, ACCESS_TOKEN_TTL_SEC)
}

/** A refresh token: longer-lived, only good for `refresh`, never accepted as an access token. */
export async function issueRefreshToken (opts: IssueTokenOptions): Promise<IssuedToken> {
  return await sign('refresh', opts, REFRESH_TOKEN_TTL_SEC)
}

async function sign (kind: TokenKind, opts: IssueTokenOptions, defaultTtl: number): Promise<IssuedToken> {
  const ttl = opts.ttlSeconds ?? defaultTtl
  if (!Number.isInteger(ttl) || ttl < 1) throw new InvalidArgumentError('ttlSeconds', 'expected a positive whole number of seconds')
  for (const [field, value] of [['issuer', opts.issuer], ['subject', opts.subject], ['audience', opts.audience]] as const) {
    if (typeof value !== 'string' || value === '') throw new InvalidArgumentError(field, 'required')
  }
  if (!Array.isArray(opts.roles) || !opts.roles.every(isRole)) throw new InvalidArgumentError('roles', `expected roles among ${ROLES.join(', ')}`)
  const iat = Math.floor((opts.now ?? new Date()).getTime() / 1000)
  const exp = iat + ttl
  const token = await new SignJWT({ roles: [...opts.roles], typ: kind })
    .setProtectedHeader({ alg: TOKEN_ALGORITHM, typ: kind === 'access' ? ACCESS_TOKEN_TYPE : REFRESH_TOKEN_TYPE })
    .setIssuer(opts.issuer)
    .setSubject(opts.subject)
    .setAudience(opts.audience)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .setJti(randomUUID())
    .sign(toPrivateKeyObject(opts.privateKey))
  return { token, expiresAt: new Date(exp * 1000) }
}

export interface VerifyTokenOptions {
  /** this federation's name */
  audience: string
  /** the issuing domain's public key (e.g. from its replicated `Domain` entity); null for a non-member */
  getIssuerKey: (issuerDomain: string) => Promise<PublicKeyLike | null | undefined> | PublicKeyLike | null | undefined
  /** true when the issuing domain is revoked: its tokens are refused even before they expire */
  isRevoked?: (issuerDomain: string) => boolean
  /** default 30 */
  clockToleranceSec?: number
  /** verification time; default now */
  now?: Date
}

export interface VerifiedToken {
  subject: string
  roles: Role[]
  issuer: string
  expiresAt: Date
  /** the `jti` claim, for audit logs and a future deny list */
  tokenId: string
}

/**
 * Verifies an access token.
 * @throws TokenInvalidError (signature, algorithm, type, audience, shape), TokenExpiredError,
 *   UnknownIssuerError (no key for the issuer), IssuerRevokedError
 */
export async function verifyToken (token: string, opts: VerifyTokenOptions): Promise<VerifiedToken> {
  return await verify('access', token, opts)
}

/** Verifies a refresh token (same checks, but it must be a refresh token). */
export async function verifyRefreshToken (token: string, opts: VerifyTokenOptions): Promise<VerifiedToken> {
  return await verify('refresh', token, opts)
}

async function verify (kind: TokenKind, token: string, opts: VerifyTokenOptions): Promise<VerifiedToken> {
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) throw new TokenInvalidError('missing or oversized')
  let header: ReturnType<typeof decodeProtectedHeader>
  let claims: JWTPayload
  try {
    header = decodeProtectedHeader(token)
    claims = decodeJwt(token)
  } catch {
    throw new TokenInvalidError('not a JWT')
  }
  // Checked before any key lookup: `none` and HMAC tokens (signed with a "public" key as secret) end here.
  if (header.alg !== TOKEN_ALGORITHM) throw new TokenInvalidError(`algorithm ${String(header.alg).slice(0, 16)} not allowed`)
  const expectedTyp = kind === 'access' ? ACCESS_TOKEN_TYPE : REFRESH_TOKEN_TYPE
  if (header.typ !== expectedTyp) throw new TokenInvalidError(`not an ${kind} token`)
  if (typeof claims.iss !== 'string' || claims.iss === '') throw new TokenInvalidError('no issuer')
  // Attacker-controlled until verified: keep what reaches errors and logs short.
  const issuer = claims.iss.slice(0, 128)
  if (issuer !== claims.iss) throw new TokenInvalidError('issuer too long')
  if (opts.isRevoked?.(issuer) === true) throw new IssuerRevokedError(issuer)

  const published = await opts.getIssuerKey(issuer)
  if (published == null) throw new UnknownIssuerError(issuer)
  let key: KeyObject
  try {
    key = toPublicKeyObject(published)
  } catch (err) {
    if (err instanceof KeyFormatError) throw new UnknownIssuerError(issuer, 'its published key is not a usable Ed25519 key')
    throw err
  }

  let payload: JWTPayload
  try {
    ({ payload } = await jwtVerify(token, key, {
      algorithms: [TOKEN_ALGORITHM],
      audience: opts.audience,
      issuer,
      typ: expectedTyp,
      clockTolerance: opts.clockToleranceSec ?? TOKEN_CLOCK_TOLERANCE_SEC,
      currentDate: opts.now,
      requiredClaims: ['sub', 'exp', 'iat', 'jti', 'aud']
    }))
  } catch (err) {
    // jose checks the signature before the claims, so only a genuine token gets "expired".
    if (err instanceof joseErrors.JWTExpired) throw new TokenExpiredError(typeof claims.exp === 'number' ? new Date(claims.exp * 1000) : undefined)
    if (err instanceof joseErrors.JOSEError) throw new TokenInvalidError(err.code)
    throw new TokenInvalidError('verification failed')
  }
  if (payload.typ !== kind) throw new TokenInvalidError(`not an ${kind} token`)
  if (!Array.isArray(payload.roles) || typeof payload.sub !== 'string' || typeof payload.jti !== 'string' || typeof payload.exp !== 'number') {
    throw new TokenInvalidError('missing claims')
  }
  // Roles this version does not know grant nothing (a newer domain may define more).
  const roles = ROLES.filter(r => (payload.roles as unknown[]).includes(r))
  return { subject: payload.sub, roles, issuer, expiresAt: new Date(payload.exp * 1000), tokenId: payload.jti }
}

export interface RefreshOptions {
  /** this domain's key: refresh tokens are only redeemed where they were issued */
  privateKey: PrivateKeyLike
  /** this domain's name */
  issuer: string
  audience: string
  /** the new access token's lifetime; default 900 */
  ttlSeconds?: number
  /**
   * Looks the user up again so a removed user or a changed group takes effect at the next refresh;
   * null refuses the refresh. Default: keep the roles in the refresh token.
   */
  resolveRoles?: (subject: string, rolesInToken: Role[]) => Promise<Role[] | null>
  clockToleranceSec?: number
  now?: Date
}

/**
 * Trades a refresh token issued by this domain for a new access token.
 * @throws TokenInvalidError (also for an access token, or a refresh token from another domain), TokenExpiredError
 */
export async function refresh (refreshToken: string, opts: RefreshOptions): Promise<IssuedToken> {
  const own = toPublicKeyObject(opts.privateKey)
  let verified: VerifiedToken
  try {
    verified = await verifyRefreshToken(refreshToken, {
      audience: opts.audience,
      getIssuerKey: issuer => issuer === opts.issuer ? own : null,
      clockToleranceSec: opts.clockToleranceSec,
      now: opts.now
    })
  } catch (err) {
    if (err instanceof UnknownIssuerError) throw new TokenInvalidError('refresh token issued by another domain')
    throw err
  }
  const roles = opts.resolveRoles != null ? await opts.resolveRoles(verified.subject, verified.roles) : verified.roles
  if (roles == null) throw new TokenInvalidError('the user can no longer log in')
  return await issueToken({
    privateKey: opts.privateKey,
    issuer: opts.issuer,
    subject: verified.subject,
    roles,
    audience: opts.audience,
    ttlSeconds: opts.ttlSeconds,
    now: opts.now
  })
}

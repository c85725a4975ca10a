/**
 * Authentication: logins against this domain's directory, tokens signed with the domain key,
 * and verification of tokens issued by any member domain (its key comes from its replicated
 * Domain entity). Verified tokens are cached until they expire: a client reuses its token for
 * many requests, and an Ed25519 verification costs more than the request it guards.
 */
import { LRUCache } from 'lru-cache'
import type { PrivateKey } from '@libp2p/interface'
import type { Logger } from 'pino'
import {
  importPublicKey, issueRefreshToken, issueToken, refresh as refreshToken, rolesFromGroups, verifyToken,
  type Directory, type PublicKeyLike, type Role, type RoleMapping, type VerifiedToken
} from '../../identity/index.ts'
import type { EntityStore } from '../ngsi/store/index.ts'
import { DEFAULT_VOCAB } from '../ngsi/types.ts'

export const SIGNING_KEY_ATTR = `${DEFAULT_VOCAB}signingKey`

export interface AuthServiceComponents {
  directory: Directory
  privateKey: PrivateKey
  store: EntityStore
  log: Logger
  /** true for a domain whose tokens must be refused (revoked, or no longer a member) */
  isRevoked?: (domain: string) => boolean
}

export interface AuthServiceInit {
  domain: string
  federation: string
  roleMapping: RoleMapping
  tokenTtlSeconds: number
  refreshTtlSeconds: number
}

export interface Login {
  access_token: string
  token_type: 'Bearer'
  expires_in: number
  refresh_token: string
  refresh_expires_in: number
  roles: Role[]
  issuer: string
}

export interface User {
  subject: string
  roles: Role[]
  issuer: string
}

/** Verified tokens kept; a client reuses its token until it expires. */
const TOKEN_CACHE_SIZE = 10_000

export class AuthService {
  private readonly c: AuthServiceComponents
  private readonly init: AuthServiceInit
  private readonly verified = new LRUCache<string, VerifiedToken>({ max: TOKEN_CACHE_SIZE })

  constructor (components: AuthServiceComponents, init: AuthServiceInit) {
    this.c = components
    this.init = init
  }

  async start (): Promise<void> {
    await this.c.directory.start?.()
  }

  async stop (): Promise<void> {
    await this.c.directory.stop?.()
  }

  /** Username + password → access and refresh tokens. Directory errors pass through (401/503). */
  async login (username: string, password: string, signal?: AbortSignal): Promise<Login> {
    const user = await this.c.directory.authenticate(username, password, { signal })
    const roles = rolesFromGroups(user.groups, this.init.roleMapping)
    return await this.tokensFor(user.username, roles)
  }

  async refresh (token: string): Promise<Login> {
    const access = await refreshToken(token, {
      privateKey: this.c.privateKey,
      issuer: this.init.domain,
      audience: this.init.federation,
      ttlSeconds: this.init.tokenTtlSeconds
    })
    const v = await this.verify(access.token)
    return {
      access_token: access.token,
      token_type: 'Bearer',
      expires_in: Math.round((access.expiresAt.getTime() - Date.now()) / 1000),
      refresh_token: token,
      refresh_expires_in: 0,
      roles: v.roles,
      issuer: this.init.domain
    }
  }

  /** An access token: verified once, then served from the cache until it expires. */
  async verify (token: string): Promise<VerifiedToken> {
    const hit = this.verified.get(token)
    if (hit != null && hit.expiresAt.getTime() > Date.now() && this.c.isRevoked?.(hit.issuer) !== true) return hit
    const v = await verifyToken(token, {
      audience: this.init.federation,
      getIssuerKey: (issuer) => this.issuerKey(issuer),
      isRevoked: this.c.isRevoked
    })
    this.verified.set(token, v)
    return v
  }

  /** Forgets cached verifications (after a revocation). */
  forget (): void {
    this.verified.clear()
  }

  private async tokensFor (subject: string, roles: Role[]): Promise<Login> {
    const base = { privateKey: this.c.privateKey, issuer: this.init.domain, subject, roles, audience: this.init.federation }
    const access = await issueToken({ ...base, ttlSeconds: this.init.tokenTtlSeconds })
    const refresh = await issueRefreshToken({ ...base, ttlSeconds: this.init.refreshTtlSeconds })
    const now = Date.now()
    return {
      access_token: access.token,
      token_type: 'Bearer',
      expires_in: Math.round((access.expiresAt.getTime() - now) / 1000),
      refresh_token: refresh.token,
      refresh_expires_in: Math.round((refresh.expiresAt.getTime() - now) / 1000),
      roles,
      issuer: this.init.domain
    }
  }

  /** The issuing domain's key: ours, or the one its replicated Domain entity publishes. */
  private async issuerKey (issuer: string): Promise<PublicKeyLike | null> {
    if (issuer === this.init.domain) return this.c.privateKey.publicKey
    const domain = await this.c.store.get(`urn:ngsi-ld:Domain:${issuer}`)
    const value = domain?.attrs[SIGNING_KEY_ATTR]?.[0]?.value
    if (typeof value !== 'string') return null
    try { return importPublicKey(value) } catch { return null }
  }
}

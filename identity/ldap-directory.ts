import type { ConnectionOptions } from 'node:tls'
import { Client, Filter, ResultCodeError, type Entry } from 'ldapts'
import { LDAP_TIMEOUT_MS, MAX_PASSWORD_LENGTH, MAX_USERNAME_LENGTH } from './constants.ts'
import { DirectoryUnavailableError, InvalidArgumentError, InvalidCredentialsError } from './errors.ts'
import type { AuthenticateOptions, Directory, DirectoryUser, IdentityLogger } from './interface.ts'

export interface LdapDirectoryInit {
  /** `ldap://host:port` or `ldaps://host:port` */
  url: string
  /** service account that searches users and groups; anonymous search when absent */
  bindDN?: string
  bindPassword?: string
  /** where users live, e.g. `ou=people,dc=example,dc=org` */
  userBase: string
  /** `{username}` is replaced by the RFC 4515-escaped username; default `(uid={username})` */
  userFilter?: string
  /** the attribute holding the username as the directory spells it; default `uid` */
  usernameAttribute?: string
  /** where groups live; without it, groups come from the user's `memberOf` only */
  groupBase?: string
  /** `{dn}` (the user's DN) and `{username}` are replaced, escaped; default `(member={dn})` */
  groupFilter?: string
  /** the group attribute that names it; default `cn` */
  groupNameAttribute?: string
  /** per login (connect, binds, searches); default 5000 */
  timeoutMs?: number
  /** for `ldaps://` (CA certificates, server name) */
  tlsOptions?: ConnectionOptions
}

export interface LdapDirectoryComponents {
  logger?: IdentityLogger
}

/** Result codes of a user bind that mean "this user cannot log in" rather than "the directory is broken". */
const REFUSED_BIND_CODES = new Set([
  48, // inappropriateAuthentication
  49, // invalidCredentials
  50, // insufficientAccessRights (e.g. a disabled account under some policies)
  53 // unwillingToPerform (e.g. a locked account under ppolicy)
])

class Timeout extends Error {}

/**
 * Users from an LDAP server (OpenLDAP, Active Directory, …) through ldapts. Each login opens its
 * own connection: search the user with the service account, read their groups, bind as the user to
 * check the password, unbind. No pool, so a slow or dead server costs one connection per attempt
 * and nothing outlives `timeoutMs`.
 */
export class LdapDirectory implements Directory {
  private readonly init: Required<Omit<LdapDirectoryInit, 'bindDN' | 'bindPassword' | 'groupBase' | 'tlsOptions'>> & LdapDirectoryInit
  private readonly log?: IdentityLogger

  constructor (init: LdapDirectoryInit, components: LdapDirectoryComponents = {}) {
    if (typeof init.url !== 'string' || !/^ldaps?:\/\/[^/]+\/?$/.test(init.url)) throw new InvalidArgumentError('url', 'expected ldap://host:port or ldaps://host:port')
    if (typeof init.userBase !== 'string' || init.userBase === '') throw new InvalidArgumentError('userBase', 'required')
    if ((init.bindDN == null) !== (init.bindPassword == null)) throw new InvalidArgumentError('bindDN', 'bindDN and bindPassword go together')
    const userFilter = init.userFilter ?? '(uid={username})'
    if (!userFilter.includes('{username}')) throw new InvalidArgumentError('userFilter', 'must contain {username}')
    const groupFilter = init.groupFilter ?? '(member={dn})'
    if (!groupFilter.includes('{dn}') && !groupFilter.includes('{username}')) throw new InvalidArgumentError('groupFilter', 'must contain {dn} or {username}')
    this.init = {
      ...init,
      userFilter,
      groupFilter,
      usernameAttribute: init.usernameAttribute ?? 'uid',
      groupNameAttribute: init.groupNameAttribute ?? 'cn',
      timeoutMs: init.timeoutMs ?? LDAP_TIMEOUT_MS
    }
    this.log = components.logger
  }

  /** Warns about plain `ldap://` to another host: user passwords would cross the network in clear. */
  async start (): Promise<void> {
    const host = /^ldap:\/\/([^:/]+)/.exec(this.init.url)?.[1]
    if (host != null && !['127.0.0.1', 'localhost', '::1', '[::1]'].includes(host)) {
      this.log?.warn({ url: this.init.url }, 'LDAP over plain ldap:// sends user passwords unencrypted; use ldaps://')
    }
  }

  async stop (): Promise<void> {}

  async authenticate (username: string, password: string, opts: AuthenticateOptions = {}): Promise<DirectoryUser> {
    opts.signal?.throwIfAborted()
    // An empty password would be an "unauthenticated bind", which LDAP servers answer with success (RFC 4513 5.1.2).
    if (typeof username !== 'string' || typeof password !== 'string' || username === '' || password === '' ||
      username.length > MAX_USERNAME_LENGTH || password.length > MAX_PASSWORD_LENGTH || username.includes('\0')) {
      throw new InvalidCredentialsError()
    }
    const { timeoutMs } = this.init
    const client = new Client({ url: this.init.url, timeout: timeoutMs, connectTimeout: timeoutMs, tlsOptions: this.init.tlsOptions })
    let timer: NodeJS.Timeout | undefined
    let onAbort: (() => void) | undefined
    try {
      const stopped = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => { reject(new Timeout()) }, timeoutMs)
        onAbort = () => { reject(opts.signal?.reason) }
        opts.signal?.addEventListener('abort', onAbort, { once: true })
      })
      const user = await Promise.race([this.login(client, username, password), stopped])
      this.log?.debug({ directory: 'ldap', username: user.username, groups: user.groups.length }, 'login accepted')
      return user
    } catch (err) {
      if (opts.signal?.aborted === true && err === opts.signal.reason) throw err
      if (err instanceof InvalidCredentialsError) {
        this.log?.debug({ directory: 'ldap' }, 'login refused')
        throw err
      }
      const reason = err instanceof Timeout ? `no answer within ${timeoutMs} ms` : err instanceof DirectoryUnavailableError ? String(err.data.reason) : describe(err)
      this.log?.warn({ directory: 'ldap', url: this.init.url, reason }, 'LDAP directory unavailable')
      throw err instanceof DirectoryUnavailableError ? err : new DirectoryUnavailableError(reason, { url: this.init.url })
    } finally {
      clearTimeout(timer)
      if (onAbort != null) opts.signal?.removeEventListener('abort', onAbort)
      // Unbind also closes the socket, which ends any operation still waiting after a timeout.
      await client.unbind().catch(() => {})
    }
  }

  private async login (client: Client, username: string, password: string): Promise<DirectoryUser> {
    const { bindDN, bindPassword, userBase, userFilter, usernameAttribute, groupBase, groupFilter, groupNameAttribute } = this.init
    if (bindDN != null && bindPassword != null) {
      try {
        await client.bind(bindDN, bindPassword)
      } catch (err) {
        // The service account is ours, not the user's: a rejected bind is a configuration fault (503), not a 401.
        if (err instanceof ResultCodeError && err.code === 49) throw new DirectoryUnavailableError('the service account bind was rejected', { url: this.init.url })
        throw err
      }
    }

    const filter = userFilter.replaceAll('{username}', Filter.escape(username))
    const found = await client.search(userBase, {
      scope: 'sub',
      filter,
      // Two is enough to tell "exactly one" from "ambiguous".
      sizeLimit: 2,
      attributes: [usernameAttribute, 'displayName', 'cn', 'memberOf']
    })
    if (found.searchEntries.length !== 1) {
      if (found.searchEntries.length > 1) this.log?.warn({ directory: 'ldap', matches: found.searchEntries.length }, 'user filter matches several entries; login refused')
      throw new InvalidCredentialsError()
    }
    const entry = found.searchEntries[0]

    const groups = new Set<string>()
    for (const dn of values(entry, 'memberOf')) {
      const name = firstRdnValue(dn)
      if (name != null) groups.add(name)
    }
    if (groupBase != null) {
      const groupSearch = await client.search(groupBase, {
        scope: 'sub',
        filter: groupFilter.replaceAll('{dn}', Filter.escape(entry.dn)).replaceAll('{username}', Filter.escape(username)),
        attributes: [groupNameAttribute]
      })
      for (const g of groupSearch.searchEntries) {
        const name = values(g, groupNameAttribute)[0] ?? firstRdnValue(g.dn)
        if (name != null) groups.add(name)
      }
    }

    try {
      await client.bind(entry.dn, password)
    } catch (err) {
      if (err instanceof ResultCodeError && REFUSED_BIND_CODES.has(err.code)) throw new InvalidCredentialsError()
      throw err
    }

    const displayName = values(entry, 'displayName')[0] ?? values(entry, 'cn')[0]
    return {
      username: values(entry, usernameAttribute)[0] ?? username,
      ...(displayName != null ? { displayName } : {}),
      groups: [...groups].sort()
    }
  }
}

/** Attribute values as strings; attribute names compare case-insensitively, as in LDAP. */
function values (entry: Entry, name: string): string[] {
  const key = Object.keys(entry).find(k => k.toLowerCase() === name.toLowerCase())
  const v = key != null ? entry[key] : undefined
  if (v == null) return []
  const list = Array.isArray(v) ? v : [v]
  return list.map(x => Buffer.isBuffer(x) ? x.toString('utf8') : x)
}

/** `cn=Vertical deployer,ou=groups,dc=x` → `Vertical deployer` (RFC 4514 escapes undone). */
function firstRdnValue (dn: string): string | undefined {
  const m = /^[^=]+=((?:\\.|[^,+\\])*)/.exec(dn)
  if (m == null) return undefined
  // Hex escapes are UTF-8 bytes, so decode to bytes first, then to text.
  const bytes: number[] = []
  for (const part of m[1].matchAll(/\\([0-9a-fA-F]{2})|\\(.)|([^\\]+)/gs)) {
    if (part[1] != null) bytes.push(parseInt(part[1], 16))
    else bytes.push(...Buffer.from(part[2] ?? part[3], 'utf8'))
  }
  return Buffer.from(bytes).toString('utf8').trim()
}

/** A one-line reason from an ldapts or socket error; these never contain the password. */
function describe (err: unknown): string {
  if (err instanceof ResultCodeError) return `LDAP error ${err.code} (${err.name})`
  const e = err as NodeJS.ErrnoException
  return e?.code != null ? `${e.code}${e.message != null ? `: ${e.message.split('\n')[0]}` : ''}` : (e?.message?.split('\n')[0] ?? String(err))
}

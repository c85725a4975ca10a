/**
 * A private OpenLDAP server for tests: Debian's slapd on a free 127.0.0.1 port with its own config
 * and mdb data in a temp dir (no systemd, nothing from /etc/ldap but the schemas).
 *
 * ```ts
 * let ldap: Slapd
 * before(async () => { ldap = await startSlapd(); await ldap.addLdif(entries) })
 * after(async () => { await ldap?.stop() })
 * ```
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Client } from 'ldapts'

const run = promisify(execFile)

export interface SlapdOptions {
  /** default `dc=cmesh,dc=test` */
  suffix?: string
  /** load the memberof overlay, so users get `memberOf` values for their groupOfNames (default false) */
  memberOf?: boolean
}

export interface Slapd {
  url: string
  port: number
  suffix: string
  rootDN: string
  rootPassword: string
  /** `ou=people,<suffix>` and `ou=groups,<suffix>`, created at start */
  peopleDN: string
  groupsDN: string
  /** loads entries with ldapadd as the root DN */
  addLdif: (ldif: string) => Promise<void>
  /** kills slapd and removes its temp dir; safe to call twice */
  stop: () => Promise<void>
}

const SCHEMAS = ['core', 'cosine', 'inetorgperson', 'nis']

/** Starts slapd and waits until it accepts binds. Retries on a port taken in the meantime. */
export async function startSlapd (opts: SlapdOptions = {}): Promise<Slapd> {
  let lastError: unknown
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(opts)
    } catch (err) {
      lastError = err
      if (!/address already in use|bind\(\) failed|daemon: bind/i.test(String((err as Error).message))) throw err
    }
  }
  throw lastError
}

async function startOnce (opts: SlapdOptions): Promise<Slapd> {
  const suffix = opts.suffix ?? 'dc=cmesh,dc=test'
  const rootDN = `cn=admin,${suffix}`
  const rootPassword = `root-${randomBytes(9).toString('base64url')}`
  const dir = await mkdtemp(join(tmpdir(), 'cmesh-slapd-'))
  let child: ChildProcess | undefined
  const killNow = (): void => {
    child?.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
  // Safety net: mocha's `exit: true` ends the process; never leave a slapd or its files behind.
  process.once('exit', killNow)

  const stop = async (): Promise<void> => {
    process.removeListener('exit', killNow)
    const c = child
    child = undefined
    if (c != null && c.exitCode == null && c.signalCode == null) {
      const exited = new Promise<void>(resolve => c.once('exit', () => { resolve() }))
      c.kill('SIGTERM')
      const timer = setTimeout(() => c.kill('SIGKILL'), 3000)
      await exited
      clearTimeout(timer)
    }
    await rm(dir, { recursive: true, force: true })
  }

  try {
    const dataDir = join(dir, 'data')
    await mkdir(dataDir, { mode: 0o700 })
    const { stdout: rootHash } = await run('slappasswd', ['-s', rootPassword])
    const conf = join(dir, 'slapd.conf')
    await writeFile(conf, [
      ...SCHEMAS.map(s => `include /etc/ldap/schema/${s}.schema`),
      `pidfile ${join(dir, 'slapd.pid')}`,
      `argsfile ${join(dir, 'slapd.args')}`,
      'modulepath /usr/lib/ldap',
      // On Debian the mdb backend (and overlays) are modules.
      'moduleload back_mdb',
      ...(opts.memberOf === true ? ['moduleload memberof'] : []),
      'database mdb',
      `suffix "${suffix}"`,
      `rootdn "${rootDN}"`,
      `rootpw ${rootHash.trim()}`,
      `directory ${dataDir}`,
      'index objectClass eq',
      ...(opts.memberOf === true ? ['overlay memberof'] : []),
      ''
    ].join('\n'))
    await run('slaptest', ['-f', conf, '-u'])

    const port = await freePort()
    const url = `ldap://127.0.0.1:${port}`
    // -d 0: stay in the foreground as our child (no daemonising), so killing it is enough.
    const proc = spawn('slapd', ['-f', conf, '-h', `${url}/`, '-d', '0'], { stdio: ['ignore', 'pipe', 'pipe'] })
    child = proc
    let output = ''
    const keep = (chunk: Buffer): void => { output = (output + chunk.toString()).slice(-4000) }
    proc.stdout?.on('data', keep)
    proc.stderr?.on('data', keep)
    const exited = new Promise<never>((_resolve, reject) => {
      proc.once('exit', code => { reject(new Error(`slapd exited (code ${String(code)}): ${output}`)) })
      proc.once('error', reject)
    })
    exited.catch(() => {})
    await Promise.race([waitForBind(url, rootDN, rootPassword), exited])

    const peopleDN = `ou=people,${suffix}`
    const groupsDN = `ou=groups,${suffix}`
    const addLdif = async (ldif: string): Promise<void> => {
      const file = join(dir, `add-${randomBytes(4).toString('hex')}.ldif`)
      await writeFile(file, ldif)
      await run('ldapadd', ['-x', '-H', url, '-D', rootDN, '-w', rootPassword, '-f', file])
      await rm(file, { force: true })
    }
    const dc = /^dc=([^,]+)/.exec(suffix)?.[1] ?? 'cmesh'
    await addLdif([
      `dn: ${suffix}`, 'objectClass: dcObject', 'objectClass: organization', `dc: ${dc}`, 'o: Continuum Mesh tests', '',
      `dn: ${peopleDN}`, 'objectClass: organizationalUnit', 'ou: people', '',
      `dn: ${groupsDN}`, 'objectClass: organizationalUnit', 'ou: groups', ''
    ].join('\n'))
    return { url, port, suffix, rootDN, rootPassword, peopleDN, groupsDN, addLdif, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

async function waitForBind (url: string, dn: string, password: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const client = new Client({ url, timeout: 1000, connectTimeout: 1000 })
    try {
      await client.bind(dn, password)
      return
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`slapd did not accept binds within ${timeoutMs} ms: ${(err as Error).message}`)
    } finally {
      await client.unbind().catch(() => {})
    }
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

/** A TCP port that was free a moment ago on 127.0.0.1 (and, once released, refuses connections). */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen({ host: '127.0.0.1', port: 0 }, () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr != null ? addr.port : 0
      srv.close(() => { resolve(port) })
    })
  })
}

/**
 * The part after an attribute name in LDIF: `: value` for plain ASCII, `:: base64` for anything
 * else (parentheses and stars are fine, but UTF-8 or a leading space is not), e.g. `cn${ldifValue(v)}`.
 */
export function ldifValue (value: string): string {
  return /^[\x20-\x7e]*$/.test(value) && !/^[ :<]/.test(value) && !value.endsWith(' ')
    ? `: ${value}`
    : `:: ${Buffer.from(value, 'utf8').toString('base64')}`
}

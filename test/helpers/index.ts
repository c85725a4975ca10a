/**
 * Test helpers: temp dirs, free ports, polling, and real nodes on 127.0.0.1.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { buildConfig, type NodeConfigInput } from '../../src/config/index.ts'
import { ContinuumNode } from '../../src/node.ts'
import { loadOrCreateDomainKey } from '../../identity/index.ts'
import { createLogger, type Logger } from '../../src/log.ts'

const cleanups: Array<() => Promise<void>> = []

/**
 * Secrets used by tests (passwords, private keys) and every log line written by test nodes: the
 * root hook in test/helpers/root-hooks.ts checks, after the whole run, that no line holds a secret.
 */
export const SECRETS = new Set<string>()
export const LOG_LINES: string[] = []

export function registerSecret (s: string): void {
  if (s.length >= 8) SECRETS.add(s)
}

/** Runs every registered cleanup (newest first). Call from an `after` hook. */
export async function cleanup (): Promise<void> {
  while (cleanups.length > 0) {
    const fn = cleanups.pop()
    try { await fn?.() } catch { /* best effort */ }
  }
}

export async function tempDir (prefix = 'cmesh-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  cleanups.push(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
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

/** Polls `check` until it returns a truthy value (returned) or the time is up (throws with `what`). */
export async function waitFor<T> (check: () => T | Promise<T>, what: string, timeoutMs = 20_000, everyMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await check()
      if (v != null && v !== false) return v as NonNullable<T>
    } catch (err) { last = err }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last != null ? ` (last error: ${String(last)})` : ''}`)
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
}

/** The default logger of test nodes: debug lines into LOG_LINES, for the secrets check. */
export function capturingLogger (): Logger {
  const stream = new Writable({ write (chunk, _enc, cb) { LOG_LINES.push(String(chunk)); cb() } })
  // The production logger (same redaction), writing into memory.
  return createLogger({ level: 'debug', destination: stream })
}

/** A logger that keeps every line in memory (for assertions) and prints nothing. */
export function memoryLogger (level = 'debug'): { log: Logger, lines: string[] } {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _enc, cb) { lines.push(String(chunk)); cb() } })
  return { log: pino({ level }, stream), lines }
}

/** Short timings so membership changes show within a second or two. */
export const FAST_MESH = {
  heartbeatIntervalMs: 200,
  suspectAfterMs: 700,
  deadAfterMs: 1500,
  pingIntervalMs: 1000,
  redialInitialMs: 100,
  redialMaxMs: 1000
}

/** Registers the forms a private key could leak in (raw, base64, base64url, hex, protobuf base64). */
export function registerKey (key: { raw: Uint8Array }): void {
  const raw = Buffer.from(key.raw)
  registerSecret(raw.toString('base64'))
  registerSecret(raw.toString('base64url'))
  registerSecret(raw.toString('hex'))
  // The 32-byte seed alone (Ed25519 keys are seed ‖ public key in libp2p's raw form).
  registerSecret(raw.subarray(0, 32).toString('base64'))
  registerSecret(raw.subarray(0, 32).toString('hex'))
  registerSecret(raw.subarray(0, 32).toString('base64url'))
}

export interface TestDomain {
  name: string
  dataDir: string
  peerId: string
  meshPort: number
  apiPort: number
  addr: string
}

/** Prepares a domain: data dir, key (so its peer id is known before start) and ports. */
export async function prepareDomain (name: string): Promise<TestDomain> {
  const dataDir = await tempDir(`cmesh-${name}-`)
  const key = await loadOrCreateDomainKey(dataDir)
  registerKey(key.privateKey)
  const meshPort = await freePort()
  const peerId = key.peerId.toString()
  return { name, dataDir, peerId, meshPort, apiPort: await freePort(), addr: `/ip4/127.0.0.1/tcp/${meshPort}/p2p/${peerId}` }
}

/** Builds a node for a prepared domain; `members` and `bootstrap` list other prepared domains. */
export function nodeFor (d: TestDomain, opts: {
  members: TestDomain[]
  bootstrap?: TestDomain[]
  federation?: string
  logger?: Logger
  config?: NodeConfigInput
  /** run with authentication on (default off: tests of other features act as admin, explicitly) */
  auth?: boolean
  /** the data directory was restored from an older copy (`cmesh node --restored`) */
  restored?: boolean
}): ContinuumNode {
  const config = buildConfig({
    domain: { name: d.name, fqdn: `${d.name}.test.local` },
    dataDir: d.dataDir,
    api: { host: '127.0.0.1', port: d.apiPort },
    mesh: {
      listen: [`/ip4/127.0.0.1/tcp/${d.meshPort}`],
      bootstrap: (opts.bootstrap ?? []).map(b => b.addr),
      ...FAST_MESH
    },
    federation: { name: opts.federation ?? 'test', members: opts.members.map(m => m.peerId) },
    replication: { syncIntervalMs: 300 },
    auth: { mode: opts.auth === true ? 'enabled' : 'disabled' },
    log: { level: 'silent', format: 'json' },
    ...opts.config
  })
  const node = new ContinuumNode(config, { logger: opts.logger ?? capturingLogger(), restored: opts.restored })
  cleanups.push(async () => { await node.stop() })
  return node
}

/** GET/POST/… JSON against a node's API; returns status and parsed body. */
export async function api (node: ContinuumNode, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number, body: any, headers: Headers }> {
  const res = await fetch(node.apiUrl + path, {
    method,
    headers: body !== undefined ? { 'content-type': 'application/json', ...headers } : headers,
    body: body !== undefined ? JSON.stringify(body) : undefined
  })
  const text = await res.text()
  let parsed: unknown
  try { parsed = text === '' ? undefined : JSON.parse(text) } catch { parsed = text }
  return { status: res.status, body: parsed, headers: res.headers }
}

/** A node's `/mesh/v1/digest` (entity hash and version vector), asserting it answers 200. */
export async function digest (node: ContinuumNode): Promise<{ entityHash: string, entities: number, versionVector: Record<string, number> }> {
  const r = await api(node, 'GET', '/mesh/v1/digest')
  if (r.status !== 200) throw new Error(`digest of ${node.config.domain.name}: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body
}

/**
 * Federations of real node processes for the replication benchmarks: each domain gets a temp
 * dir with its key made beforehand (so every peer id is known before any node starts), fixed
 * loopback ports, and the real CLI (`bin/cmesh.js node --config …`). A domain can be stopped and
 * started again on the same data dir. Every child is killed and every temp dir removed when the
 * bench process exits, even on a failure or an uncaught error.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, openSync, rmSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { loadOrCreateDomainKey } from '../../identity/index.ts'
import { NODE_FLAGS, nodeProcessEnv } from '../../src/paths.ts'
import { createServer, type AddressInfo, type Server } from 'node:net'

/** Children and dirs to clean up at exit, whatever happens. */
const liveChildren = new Set<ChildProcess>()
const liveDirs = new Set<string>()
let exitHookInstalled = false
function installExitHook (): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.once('exit', () => {
    for (const c of liveChildren) { try { c.kill('SIGKILL') } catch { /* gone */ } }
    for (const d of liveDirs) { try { rmSync(d, { recursive: true, force: true }) } catch { /* best effort */ } }
  })
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { process.exit(130) })
}

/** Registers a child process and/or a temp dir to be killed / removed when this process exits. */
export function cleanUpAtExit (what: { child?: ChildProcess, dir?: string }): () => void {
  installExitHook()
  if (what.child != null) {
    const child = what.child
    liveChildren.add(child)
    child.once('exit', () => { liveChildren.delete(child) })
  }
  if (what.dir != null) liveDirs.add(what.dir)
  return () => {
    if (what.child != null) liveChildren.delete(what.child)
    if (what.dir != null) liveDirs.delete(what.dir)
  }
}

export interface Domain {
  name: string
  dir: string
  dataDir: string
  peerId: string
  meshPort: number
  apiPort: number
  /** multiaddr other domains bootstrap to */
  addr: string
  url: string
}

/**
 * `count` distinct loopback ports that were free a moment ago: all listened on at once (so none
 * is handed out twice, as back-to-back freePort() calls can), then released.
 */
export async function freePorts (count: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: count }, async () => await new Promise<Server>((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen({ host: '127.0.0.1', port: 0 }, () => { resolve(srv) })
  })))
  const ports = servers.map(s => (s.address() as AddressInfo).port)
  await Promise.all(servers.map(async s => await new Promise(resolve => s.close(resolve))))
  return ports
}

/** Makes a domain's dir, key and ports; nothing runs yet. */
export async function prepareDomain (name: string, ports?: [number, number]): Promise<Domain> {
  installExitHook()
  const dir = await mkdtemp(join(tmpdir(), `cmesh-bench-${name}-`))
  liveDirs.add(dir)
  const dataDir = join(dir, 'data')
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const key = await loadOrCreateDomainKey(dataDir)
  const [meshPort, apiPort] = ports ?? await freePorts(2)
  const peerId = key.peerId.toString()
  return { name, dir, dataDir, peerId, meshPort, apiPort, addr: `/ip4/127.0.0.1/tcp/${meshPort}/p2p/${peerId}`, url: `http://127.0.0.1:${apiPort}` }
}

/** The last lines of a domain's node log (for error reports). */
export async function logTail (d: Domain, lines = 20): Promise<string> {
  try {
    return (await readFile(join(d.dir, 'node.log'), 'utf8')).trimEnd().split('\n').slice(-lines).join('\n')
  } catch { return '' }
}

export async function removeDomain (d: Domain): Promise<void> {
  await rm(d.dir, { recursive: true, force: true })
  liveDirs.delete(d.dir)
}

export interface RunningDomain {
  domain: Domain
  child: ChildProcess
  pid: number
  /** when the process was spawned and when its API first answered (performance.now()) */
  spawnedAt: number
  readyAt: number
  /** SIGTERM, wait (SIGKILL after 10 s); the data dir is kept */
  stop: () => Promise<void>
}

export interface DomainRunOptions {
  members: Domain[]
  bootstrap: Domain[]
  federation?: string
  /** merged over the bench's config (objects shallow-merged per section) */
  config?: Record<string, Record<string, unknown>>
  /** extra node flags, e.g. ['--cpu-prof', '--cpu-prof-dir=/tmp/x'] */
  execArgv?: string[]
  startTimeoutMs?: number
}

/** Starts a prepared domain with the real CLI and waits until its API answers /health. */
export async function startDomain (d: Domain, opts: DomainRunOptions): Promise<RunningDomain> {
  const extra = opts.config ?? {}
  const config = {
    domain: { name: d.name, fqdn: `${d.name}.bench.local`, ...extra.domain },
    dataDir: d.dataDir,
    api: { host: '127.0.0.1', port: d.apiPort, bodyLimit: 64 * 1024 * 1024, ...extra.api },
    mesh: {
      listen: [`/ip4/127.0.0.1/tcp/${d.meshPort}`],
      bootstrap: opts.bootstrap.map(b => b.addr),
      // Only the chosen topology: no shortcuts to members learnt from heartbeats.
      connectToMembers: false,
      ...extra.mesh
    },
    federation: { name: opts.federation ?? 'bench', members: opts.members.map(m => m.peerId) },
    ngsi: { ...extra.ngsi },
    replication: { ...extra.replication },
    // As the other benches: no token handling in the load; every request acts as admin.
    auth: { mode: 'disabled', ...extra.auth },
    log: { level: process.env.BENCH_NODE_LOG ?? 'warn', format: 'json', ...extra.log }
  }
  const file = join(d.dir, 'node.yaml')
  await writeFile(file, stringify(config))
  const spawnedAt = performance.now()
  // The node logs (pino, stdout) go to <dir>/node.log: see logTail() when something fails.
  const logFd = openSync(join(d.dir, 'node.log'), 'a')
  const child = spawn(process.execPath, [...NODE_FLAGS, ...(opts.execArgv ?? []), 'bin/cmesh.js', 'node', '--config', file], { stdio: ['ignore', logFd, 'inherit'], env: nodeProcessEnv() })
  closeSync(logFd)
  liveChildren.add(child)
  child.once('exit', () => { liveChildren.delete(child) })
  const deadline = Date.now() + (opts.startTimeoutMs ?? 120_000)
  for (;;) {
    try {
      const r = await httpJson('GET', `${d.url}/health`)
      if (r.status === 200) break
    } catch { /* not yet */ }
    if (child.exitCode != null || child.signalCode != null) throw new Error(`domain ${d.name} exited with ${child.exitCode ?? child.signalCode}`)
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`domain ${d.name} did not start`) }
    await sleep(25)
  }
  const readyAt = performance.now()
  return {
    domain: d,
    child,
    pid: child.pid ?? 0,
    spawnedAt,
    readyAt,
    stop: async () => {
      if (child.exitCode != null || child.signalCode != null) return
      const exited = new Promise(resolve => child.once('exit', resolve))
      child.kill('SIGTERM')
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(t)
    }
  }
}

export const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** Keep-alive HTTP client: cheaper per request than fetch, which matters when polling tightly. */
const agent = new Agent({ keepAlive: true, maxSockets: 64 })

export interface HttpResult { status: number, body: any, text: string, headers: Record<string, string | string[] | undefined> }

export async function httpJson (method: string, url: string, body?: unknown, timeoutMs = 120_000): Promise<HttpResult> {
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
  return await new Promise((resolve, reject) => {
    const req = request(url, {
      method,
      agent,
      timeout: timeoutMs,
      headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
    }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let parsed: unknown
        try { parsed = text === '' ? undefined : JSON.parse(text) } catch { parsed = text }
        resolve({ status: res.statusCode ?? 0, body: parsed, text, headers: res.headers })
      })
      res.on('error', reject)
    })
    req.on('timeout', () => { req.destroy(new Error(`${method} ${url} timed out`)) })
    req.on('error', reject)
    if (payload !== undefined) req.write(payload)
    req.end()
  })
}

/** Fails loudly on a non-2xx answer. */
/**
 * POSTs every body to `url` from `clients` parallel keep-alive clients (each sends its next body
 * when its last one is answered); resolves once every request is answered with one of `ok`.
 */
export async function postAll (url: string, bodies: string[], clients: number, ok: number[] = [200, 201, 204]): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(clients, bodies.length) }, async () => {
    while (next < bodies.length) {
      const body = bodies[next++]
      const r = await httpJson('POST', url, body, 300_000)
      if (!ok.includes(r.status)) throw new Error(`POST ${url} → ${r.status}: ${r.text.slice(0, 300)}`)
    }
  }))
}

export async function httpOk (method: string, url: string, body?: unknown, timeoutMs?: number): Promise<HttpResult> {
  const r = await httpJson(method, url, body, timeoutMs)
  if (r.status < 200 || r.status >= 300) throw new Error(`${method} ${url} → ${r.status}: ${r.text.slice(0, 300)}`)
  return r
}

/** Waits until every running domain sees `expected` members alive (itself included). */
export async function waitForFederation (nodes: RunningDomain[], expected: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const counts = await Promise.all(nodes.map(async n => (await httpJson('GET', `${n.domain.url}/health`)).body?.liveMembers as number))
    if (counts.every(c => c >= expected)) return
    if (Date.now() > deadline) throw new Error(`federation did not form: live members ${counts.join(',')} (expected ${expected})`)
    await sleep(100)
  }
}

export interface DigestBody { entities: number, entityHash: string, versionVector: Record<string, number> }

export async function digestOf (n: RunningDomain | Domain): Promise<DigestBody> {
  const d = 'domain' in n ? n.domain : n
  return (await httpOk('GET', `${d.url}/mesh/v1/digest`)).body as DigestBody
}

export async function peersOf (n: RunningDomain | Domain): Promise<any> {
  const d = 'domain' in n ? n.domain : n
  return (await httpOk('GET', `${d.url}/mesh/v1/peers`)).body
}

/** CPU time (user + system) a process has used, ms, from /proc (Linux; clock ticks of 10 ms). */
export async function cpuMsOf (pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  // Fields after the command name (which may contain spaces, hence the last ')'): utime is the
  // 14th field, stime the 15th, counted from 1.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(rest[11]) + Number(rest[12])) * 10
}

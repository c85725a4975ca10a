/**
 * Real `cmesh node` processes for the fault tests: one per domain, each in its own network
 * namespace (see test/helpers/netns.ts), with its own data dir and a config written here. The
 * test process talks to every domain's REST API over the lab's bridge, and records what each
 * client wrote and when it was acknowledged, so that the final state can be checked against the
 * merge rule (per-attribute last writer wins by hybrid-clock stamp, tie-break by domain).
 *
 * Not a spec file: the three fault suites share it.
 */
import { FAST_MESH, waitFor as sharedWaitFor } from '../helpers/index.ts'
import { NODE_FLAGS, nodeProcessEnv } from '../../src/paths.ts'
import { createWriteStream } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ChildProcess } from 'node:child_process'
import { loadOrCreateDomainKey } from '../../identity/index.ts'
import { DEFAULT_CONFIG } from '../../src/config/index.ts'
import { netnsUnavailable, NetLab } from '../helpers/netns.ts'

export const E = '/ngsi-ld/v1/entities'
const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)))
const API_PORT = 1026
const MESH_PORT = 4001

/**
 * Short timings, so that a partition shows in the membership table within ~1.5 s and a healed
 * peer is redialled within a second; the liveness bounds of the tests rest on them.
 */
export const FAULT_TIMINGS = {
  mesh: FAST_MESH,
  replication: { syncIntervalMs: 300 }
}

export interface Reply { status: number, body: any, headers: Headers }

/**
 * Before hook of a fault suite: skips it, loudly, where namespaces cannot be made. CI runs as
 * root, so there the suites run; a developer's non-root run says what it left out.
 */
export async function requireNetns (ctx: Mocha.Context, suite: string): Promise<void> {
  const why = await netnsUnavailable()
  if (why == null) return
  console.warn(`\n  !!! SKIPPED "${suite}" (network-fault test): ${why}. These tests run in CI (as root).\n`)
  ctx.skip()
}

/**
 * Registers, in the calling `describe`, the hooks every fault suite needs: skip loudly without
 * netns, start a cluster of `names` before the tests, print the domains' logs after a failed
 * test, destroy the cluster at the end. `domains` and `cluster` are there once the suite runs.
 */
export function useFaultCluster (suite: string, names = ['a', 'b', 'c']): { readonly cluster: FaultCluster, readonly domains: DomainProcess[] } {
  let cluster: FaultCluster | undefined
  before(async function () {
    await requireNetns(this, suite)
    cluster = await FaultCluster.start(names)
  })
  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && cluster != null) console.log(await cluster.logs())
  })
  after(async () => {
    await cluster?.destroy()
  })
  return {
    get cluster () {
      if (cluster == null) throw new Error(`${suite}: the fault cluster is not running`)
      return cluster
    },
    get domains () { return this.cluster.domains }
  }
}

export class DomainProcess {
  readonly name: string
  readonly host: string
  readonly addr: string
  readonly apiUrl: string
  readonly dataDir: string
  readonly configFile: string
  readonly logFile: string
  peerId = ''
  private readonly lab: NetLab
  private proc?: ChildProcess
  private exit?: Promise<number | string | null>
  /** how many times it was started (the log is appended to) */
  starts = 0

  constructor (lab: NetLab, host: string, dir: string) {
    this.lab = lab
    this.host = host
    this.name = `domain-${host}`
    this.addr = lab.addr(host)
    this.apiUrl = `http://${this.addr}:${API_PORT}`
    this.dataDir = join(dir, this.name)
    this.configFile = join(dir, `${this.name}.json`)
    this.logFile = join(dir, `${this.name}.log`)
  }

  get meshAddr (): string {
    return `/ip4/${this.addr}/tcp/${MESH_PORT}/p2p/${this.peerId}`
  }

  get pid (): number | undefined {
    return this.proc?.pid
  }

  get running (): boolean {
    return this.proc != null && this.proc.exitCode == null && this.proc.signalCode == null
  }

  /** Creates the domain key, so that the others' configs can name its peer id. */
  async prepare (): Promise<void> {
    const key = await loadOrCreateDomainKey(this.dataDir)
    this.peerId = key.peerId.toString()
  }

  async writeConfig (others: DomainProcess[], extra: Record<string, unknown> = {}): Promise<void> {
    const config = {
      domain: { name: this.name, fqdn: `${this.name}.faults.test` },
      dataDir: this.dataDir,
      api: { host: this.addr, port: API_PORT },
      mesh: {
        listen: [`/ip4/${this.addr}/tcp/${MESH_PORT}`],
        bootstrap: others.map(o => o.meshAddr),
        ...FAULT_TIMINGS.mesh
      },
      federation: { name: 'faults', members: others.map(o => o.peerId) },
      // Large pages, so that a check reads every entity of a test in one request.
      ngsi: { maxLimit: 20_000 },
      replication: { ...FAULT_TIMINGS.replication },
      log: { level: 'info', format: 'json' },
      // What these tests prove is replication under faults, not access control: every client
      // acts as admin. (Only where the node has an auth section, so the file also loads on a
      // node built before it.)
      ...('auth' in DEFAULT_CONFIG ? { auth: { mode: 'disabled' } } : {}),
      ...extra
    }
    await writeFile(this.configFile, JSON.stringify(config, null, 2))
  }

  /** Starts the node in its namespace and waits until its API answers. */
  async start (timeoutMs = 30_000): Promise<void> {
    if (this.running) throw new Error(`${this.name} is already running`)
    this.starts++
    const log = createWriteStream(this.logFile, { flags: 'a' })
    await new Promise(resolve => log.once('open', resolve))
    log.write(`--- start ${this.starts} at ${new Date().toISOString()}\n`)
    // CMESH_PARENT_PID: the node stops itself if the test process dies without killing it.
    const proc = this.lab.run(this.host, [process.execPath, ...NODE_FLAGS, join(ROOT, 'bin/cmesh.js'), 'node', '--config', this.configFile], {
      cwd: ROOT,
      env: nodeProcessEnv({ ...process.env, CMESH_PARENT_PID: String(process.pid) }),
      stdio: ['ignore', log, log]
    })
    this.proc = proc
    this.exit = new Promise(resolve => { proc.once('exit', (code, signal) => { log.end(); resolve(signal ?? code) }) })
    const deadline = Date.now() + timeoutMs
    for (;;) {
      if (!this.running) throw new Error(`${this.name} exited during start (${String(await this.exit)}); log:\n${await this.logTail(30)}`)
      try {
        const r = await this.api('GET', '/health', undefined, 1000)
        if (r.status === 200) return
      } catch { /* not listening yet */ }
      if (Date.now() > deadline) throw new Error(`${this.name} did not answer within ${timeoutMs} ms; log:\n${await this.logTail(30)}`)
      await sleep(100)
    }
  }

  /** kill -9: no clean stop, no flush, exactly as a crash. */
  async kill9 (): Promise<void> {
    if (!this.running) return
    this.proc?.kill('SIGKILL')
    await this.exit
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.proc?.kill('SIGTERM')
    const t = setTimeout(() => { this.proc?.kill('SIGKILL') }, 5000)
    await this.exit
    clearTimeout(t)
  }

  async api (method: string, path: string, body?: unknown, timeoutMs = 15_000): Promise<Reply> {
    const res = await fetch(this.apiUrl + path, {
      method,
      headers: body !== undefined ? { 'content-type': 'application/json' } : {},
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(timeoutMs)
    })
    const text = await res.text()
    let parsed: unknown
    try { parsed = text === '' ? undefined : JSON.parse(text) } catch { parsed = text }
    return { status: res.status, body: parsed, headers: res.headers }
  }

  async digest (): Promise<Digest> {
    const r = await this.api('GET', '/mesh/v1/digest')
    if (r.status !== 200) throw new Error(`${this.name} digest: ${r.status}`)
    return r.body as Digest
  }

  async peers (): Promise<Peers> {
    const r = await this.api('GET', '/mesh/v1/peers')
    if (r.status !== 200) throw new Error(`${this.name} peers: ${r.status} ${JSON.stringify(r.body)}`)
    return r.body as Peers
  }

  /** State of `other` in this domain's membership table (undefined if it has none). */
  async stateOf (other: DomainProcess): Promise<Member | undefined> {
    return (await this.peers()).members.find(m => m.peerId === other.peerId)
  }

  /** Every entity of `type` with system attributes, in one page. */
  async entities (type: string): Promise<Array<Record<string, any>>> {
    const r = await this.api('GET', `${E}?type=${encodeURIComponent(type)}&options=sysAttrs&limit=20000`, undefined, 60_000)
    if (r.status !== 200) throw new Error(`${this.name} query: ${r.status} ${JSON.stringify(r.body)}`)
    return r.body as Array<Record<string, any>>
  }

  async logTail (lines: number): Promise<string> {
    const text = await readFile(this.logFile, 'utf8').catch(() => '')
    return text.split('\n').slice(-lines - 1).join('\n')
  }
}

export interface Digest { entities: number, entityHash: string, versionVector: Record<string, number> }
export interface Member {
  peerId: string
  self: boolean
  state: 'alive' | 'suspect' | 'dead'
  domain: string | null
  connected: boolean
  sync?: { state: string, lag: number, received: number, lastError: string | null }
}
export interface Peers {
  members: Member[]
  dialing: Array<{ peerId: string, connected: boolean, failures: number, lastError: string | null }>
}

/** A lab with one running domain per host, fully meshed (each bootstraps to all others). */
export class FaultCluster {
  readonly lab: NetLab
  readonly domains: DomainProcess[]
  private readonly dir: string

  private constructor (lab: NetLab, dir: string, domains: DomainProcess[]) {
    this.lab = lab
    this.dir = dir
    this.domains = domains
  }

  static async start (hosts: string[]): Promise<FaultCluster> {
    const dir = await mkdtemp(join(tmpdir(), 'cmesh-faults-'))
    let lab: NetLab | undefined
    try {
      lab = await NetLab.create(hosts)
      const domains = hosts.map(h => new DomainProcess(lab as NetLab, h, dir))
      const cluster = new FaultCluster(lab, dir, domains)
      try {
        for (const d of domains) await d.prepare()
        for (const d of domains) await d.writeConfig(domains.filter(o => o !== d))
        await Promise.all(domains.map(async d => { await d.start(60_000) }))
        await cluster.waitAllAlive(45_000)
      } catch (err) {
        await cluster.destroy()
        throw err
      }
      return cluster
    } catch (err) {
      if (lab != null) await lab.destroy()
      await rm(dir, { recursive: true, force: true })
      throw err
    }
  }

  domain (host: string): DomainProcess {
    const d = this.domains.find(x => x.host === host)
    if (d == null) throw new Error(`no domain on host ${host}`)
    return d
  }

  /** Waits until every running domain sees every other one alive. */
  async waitAllAlive (timeoutMs: number, domains = this.domains): Promise<void> {
    await waitFor(async () => {
      for (const d of domains) {
        const peers = await d.peers()
        for (const o of domains) {
          if (o === d) continue
          if (peers.members.find(m => m.peerId === o.peerId)?.state !== 'alive') return false
        }
      }
      return true
    }, 'every domain to see every other one alive', timeoutMs)
  }

  /**
   * Waits until every domain reports the same entity hash and version vector; returns the
   * digests and how long it took.
   */
  async waitConverged (timeoutMs: number, domains = this.domains): Promise<{ digests: Digest[], ms: number }> {
    const t0 = Date.now()
    let last: Digest[] = []
    try {
      await waitFor(async () => {
        last = await Promise.all(domains.map(async d => await d.digest()))
        return last.every(x => x.entityHash === last[0].entityHash && sameVector(x.versionVector, last[0].versionVector))
      }, 'equal digests', timeoutMs, 200)
    } catch (err) {
      const detail = last.map((x, i) => `  ${domains[i].name}: ${x.entities} entities ${x.entityHash.slice(0, 12)} vv ${JSON.stringify(x.versionVector)}`).join('\n')
      throw new Error(`${(err as Error).message}; last digests:\n${detail}\nmembership:\n${await this.membershipSummary(domains)}`)
    }
    return { digests: last, ms: Date.now() - t0 }
  }

  /** Who sees whom how (state, connection, anti-entropy), one line per pair: for failure reports. */
  async membershipSummary (domains = this.domains): Promise<string> {
    const lines: string[] = []
    for (const d of domains) {
      try {
        const r = await d.api('GET', '/mesh/v1/peers', undefined, 5000)
        const body = r.body as Peers
        for (const m of body.members) {
          if (m.self) continue
          const dial = body.dialing?.find(x => x.peerId === m.peerId)
          lines.push(`  ${d.name} sees ${m.domain ?? m.peerId}: ${m.state}, connected ${String(m.connected)}, keeper ${dial == null ? '-' : `connected ${String(dial.connected)} failures ${dial.failures}`}, sync ${JSON.stringify(m.sync ?? null)}`)
        }
      } catch (err) {
        lines.push(`  ${d.name}: /mesh/v1/peers failed: ${(err as Error).message}`)
      }
    }
    return lines.join('\n')
  }

  /** The tail of every domain's log, for a failed test's report. */
  async logs (lines = 40): Promise<string> {
    const parts = await Promise.all(this.domains.map(async d => `----- ${d.name} (${d.logFile})\n${await d.logTail(lines)}`))
    return parts.join('\n')
  }

  async destroy (): Promise<void> {
    await Promise.allSettled(this.domains.map(async d => { await d.stop() }))
    await this.lab.destroy()
    // Keep the logs and data of a failed run for a post-mortem when asked to.
    if (process.env.CMESH_KEEP_FAULT_DIRS === '1') console.warn(`  kept ${this.dir}`)
    else await rm(this.dir, { recursive: true, force: true })
  }
}

function sameVector (a: Record<string, number>, b: Record<string, number>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)])
  for (const k of keys) if ((a[k] ?? 0) !== (b[k] ?? 0)) return false
  return true
}

export async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

/** Polls until truthy (the shared test helper, with this file's default interval). */
export async function waitFor<T> (check: () => T | Promise<T>, what: string, timeoutMs: number, everyMs = 100): Promise<NonNullable<T>> {
  return await sharedWaitFor(check, what, timeoutMs, everyMs)
}

// ---------------------------------------------------------------------------------------------
// What clients wrote, and the check of the final state against it

/** One client request that wrote entities, as the client saw it. */
export interface WriteRecord {
  /** the domain whose API took the request */
  domain: string
  op: 'create' | 'patch' | 'upsert'
  /** entity id → attribute name → value written */
  writes: Record<string, Record<string, unknown>>
  /** client clock (same machine clock as the nodes') when the request was sent and answered */
  sentAt: number
  ackAt: number | null
  status: number | null
  error?: string
  /** the entity ids the answer acknowledged (all of a 201/204, the `success` list of a 207) */
  acked: string[]
}

/**
 * Records every write that clients make. Each written value is unique in the whole test (see
 * `next`), so that a value found in a domain names the one write that put it there.
 */
export class WriteLog {
  readonly records: WriteRecord[] = []
  private seq = 0

  /** A fresh value no other write uses. */
  next (): number {
    return ++this.seq
  }

  async create (d: DomainProcess, entity: Record<string, any>): Promise<WriteRecord> {
    return await this.send(d, 'create', 'POST', E, entity, [entity])
  }

  async patch (d: DomainProcess, id: string, attrs: Record<string, any>): Promise<WriteRecord> {
    return await this.send(d, 'patch', 'PATCH', `${E}/${encodeURIComponent(id)}/attrs`, attrs, [{ id, ...attrs }])
  }

  /** Batch upsert; `update` merges attributes into existing entities instead of replacing them. */
  async upsert (d: DomainProcess, entities: Array<Record<string, any>>, mode: 'replace' | 'update' = 'replace'): Promise<WriteRecord> {
    const q = mode === 'update' ? '?options=update' : ''
    return await this.send(d, 'upsert', 'POST', `/ngsi-ld/v1/entityOperations/upsert${q}`, entities, entities)
  }

  private async send (d: DomainProcess, op: WriteRecord['op'], method: string, path: string, body: unknown, entities: Array<Record<string, any>>): Promise<WriteRecord> {
    const writes: WriteRecord['writes'] = {}
    for (const e of entities) {
      const attrs: Record<string, unknown> = {}
      for (const [k, v] of Object.entries(e)) if (k !== 'id' && k !== 'type') attrs[k] = (v as { value?: unknown }).value
      writes[e.id as string] = attrs
    }
    const rec: WriteRecord = { domain: d.name, op, writes, sentAt: Date.now(), ackAt: null, status: null, acked: [] }
    this.records.push(rec)
    try {
      const r = await d.api(method, path, body)
      rec.status = r.status
      if (r.status >= 200 && r.status < 300) {
        rec.ackAt = Date.now()
        if (r.status === 207) rec.acked = (r.body?.success ?? []) as string[]
        else rec.acked = Object.keys(writes)
      } else {
        rec.error = JSON.stringify(r.body)
      }
    } catch (err) {
      // No answer (connection reset, the node was killed, timeout): the write may or may not
      // have happened, and the checks treat it so.
      rec.error = (err as Error).message
    }
    return rec
  }

  acknowledged (): WriteRecord[] {
    return this.records.filter(r => r.ackAt != null && r.acked.length > 0)
  }
}

/** Members of an entity (with sysAttrs) that are not attributes. */
const SYSTEM_MEMBERS = new Set(['id', 'type', 'scope', 'createdAt', 'modifiedAt', 'deletedAt', 'ownerDomain', '@context'])

/** Milliseconds since the epoch of an NGSI-LD timestamp (ms precision, as the nodes emit). */
function ms (iso: string): number {
  return Date.parse(iso)
}

/**
 * Checks one domain's entities against what clients wrote; returns the violations (empty if
 * none). For every attribute the test wrote:
 *
 * - the value held was written by some client, and names that write (values are unique); its
 *   `writerDomain` is the domain that write went to, and its `modifiedAt` falls between the
 *   write's send and acknowledgement times (all processes share this machine's clock, and a
 *   hybrid clock never runs behind it);
 * - every acknowledged write of that attribute is either the one held, or lost to a later one
 *   by the merge rule: the held stamp must be at least the send time of every acknowledged
 *   write (a write sent after the winner was acknowledged carries a greater stamp, so it would
 *   have won). Stamps are only visible to the millisecond; ties within one are allowed.
 *
 * And every entity an acknowledged write touched exists; every entity and attribute held was
 * written by some client.
 */
export function checkAgainstWrites (domain: string, entities: Array<Record<string, any>>, log: WriteLog, only?: (id: string) => boolean): string[] {
  const problems: string[] = []
  const byId = new Map(entities.map(e => [e.id as string, e]))
  // (entity, attribute) → the writes of it; value → the write that wrote it
  const writesOf = new Map<string, WriteRecord[]>()
  const byValue = new Map<string, WriteRecord>()
  for (const rec of log.records) {
    for (const [id, attrs] of Object.entries(rec.writes)) {
      if (only != null && !only(id)) continue
      for (const [name, value] of Object.entries(attrs)) {
        const key = `${id} ${name}`
        const list = writesOf.get(key) ?? []
        list.push(rec)
        writesOf.set(key, list)
        byValue.set(`${key} ${JSON.stringify(value)}`, rec)
      }
    }
  }
  for (const rec of log.acknowledged()) {
    for (const id of rec.acked) {
      if (only != null && !only(id)) continue
      if (!byId.has(id)) problems.push(`${domain}: ${id} is missing, though ${rec.domain} acknowledged a ${rec.op} of it at ${rec.ackAt ?? '?'}`)
    }
  }
  const written = new Set(log.records.flatMap(r => Object.keys(r.writes)))
  for (const e of entities) {
    if (only != null && !only(e.id)) continue
    if (!written.has(e.id)) { problems.push(`${domain}: holds entity ${String(e.id)}, which no client wrote`); continue }
    for (const name of Object.keys(e)) {
      if (SYSTEM_MEMBERS.has(name)) continue
      if (!writesOf.has(`${e.id as string} ${name}`)) problems.push(`${domain}: ${String(e.id)} holds attribute ${name}, which no client wrote`)
    }
  }
  for (const [key, recs] of writesOf) {
    const [id, name] = key.split(' ')
    const entity = byId.get(id)
    if (entity == null) continue
    const attr = entity[name]
    if (attr == null) { problems.push(`${domain}: ${id} has no ${name}, though clients wrote it ${recs.length} time(s)`); continue }
    const held = `${key} ${JSON.stringify(attr.value)}`
    const winner = byValue.get(held)
    if (winner == null) { problems.push(`${domain}: ${id}.${name} holds ${JSON.stringify(attr.value)}, which no client wrote`); continue }
    if (attr.writerDomain !== winner.domain) problems.push(`${domain}: ${id}.${name} = ${JSON.stringify(attr.value)} was written through ${winner.domain} but shows writerDomain ${String(attr.writerDomain)}`)
    const stamp = ms(attr.modifiedAt as string)
    if (!(stamp >= winner.sentAt) || (winner.ackAt != null && !(stamp <= winner.ackAt))) {
      problems.push(`${domain}: ${id}.${name} modifiedAt ${String(attr.modifiedAt)} lies outside its write's [sent ${winner.sentAt}, acknowledged ${winner.ackAt ?? '-'}]`)
    }
    for (const r of recs) {
      if (r === winner || r.ackAt == null || !r.acked.includes(id)) continue
      if (r.sentAt > stamp) {
        problems.push(`${domain}: ${id}.${name} holds ${JSON.stringify(attr.value)} (${winner.domain}, stamp ${String(attr.modifiedAt)}) but lost ${JSON.stringify(r.writes[id][name])} (${r.domain}, sent ${new Date(r.sentAt).toISOString()}, acknowledged), a later write`)
      }
    }
  }
  return problems
}

/**
 * Replication figures (issue 4, "Performance"): three domains, each a real node process started
 * with the CLI (`bin/cmesh.js node`), on loopback, load through the REST API, in two topologies:
 *
 * - `line`: A–B–C, A and C not connected (bootstrap only along the line, `mesh.connectToMembers:
 *   false`); every change from A reaches C through B. Same shape as the raw gossipsub baseline.
 * - `mesh`: A–B, A–C, B–C (full mesh of three); A→C is one hop.
 *
 * Figures (JSON lines through bench/run.ts):
 * - `replication.visibility.<topo>.p50|p99`: a PATCH at A until C's API answers the new value,
 *   sequential writes; C is polled (one GET in flight, keep-alive). Given as a ratio to the raw
 *   gossipsub A→C latency of raw probes sent between the writes through a raw line of three
 *   gossip peers running beside the trio (same gaps, same load; `raw_gossip_ms`), and to the
 *   baseline measured at the start of the run (`gossip.raw.latency.*`). Polling costs
 *   C (and the 2 shared cores) a GET every ~1 ms (BENCH_POLL_MS), which slows everything a bit.
 * - `replication.visibility_notify.<topo>.p50|p99`: the same, seen through an NGSI-LD
 *   subscription at C (notification arrival at an HTTP receiver in this process); no polling load.
 * - `replication.sustained.<topo>`: batch upserts at A (BENCH_BATCH entities per request,
 *   BENCH_CLIENTS clients) until C has applied all of them → entity updates/s end to end.
 *   Completion is watched through C's cheap counters (`/mesh/v1/peers` `replication`), then
 *   confirmed with `/mesh/v1/digest` (C's version vector for A equal to A's).
 * - `replication.ingest.solo`: the same batch load on a lone node (no federation): the writer's
 *   own floor; the sustained figures give their ratio to it.
 * - `replication.rss.*`: RSS of each node holding BENCH_ENTITIES entities right after the load
 *   (and when empty), and of B restarted on its data dir (steady state).
 * - `replication.catchup.restart`: C is stopped, A updates all BENCH_ENTITIES entities, C
 *   restarts on its data dir → missed updates / time to equal version vectors.
 * - `replication.catchup.fresh`: a fourth domain D, empty data dir, joins (bootstrap to B) and
 *   pulls A's whole change log → changes / time.
 *
 * Knobs (environment): BENCH_QUICK=1 (10,000 entities, 50 writes, line only), BENCH_ENTITIES
 * (100,000), BENCH_WRITES (200), BENCH_CLIENTS (4), BENCH_BATCH (1000 entities per request),
 * BENCH_TOPOLOGIES (`line,mesh`), BENCH_CATCHUP (`restart,fresh`; anything else skips it),
 * BENCH_SOLO (1: also measure the same load on a lone node, the writer's floor; 0 skips it),
 * BENCH_NODE_CONFIG (JSON merged over every node's config, for what-if runs), BENCH_POLL_MS (1),
 * BENCH_STALL_MS (30000: no progress that long fails the figure, which is then reported with
 * `failed: true`, the error and what the nodes say), BENCH_PROFILE=<dir> (the catching-up node
 * runs with --cpu-prof into <dir>; summarise with bench/lib/cpuprofile-summary.ts), BENCH_PROFILE_TRIO=<dir>
 * (A, B and C run with --cpu-prof into <dir>/a, <dir>/b, <dir>/c),
 * BENCH_RAW_INTERLEAVED (1: a raw gossipsub line runs beside the trio during the visibility figures and
 * is probed between the writes, each ratio is to those probes; 0: to the baseline at the start), BENCH_NODE_LOG (node log level, default warn; the logs go to each domain's temp dir and their
 * tail is printed when something fails).
 * Every process is killed and every temp dir removed at exit, also on failure or Ctrl-C.
 *
 * Scale (`scale` bench) lives in bench/scale.ts.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { loadavg } from 'node:os'
import { startRawLine, type Figure, type RawLine } from './gossip-baseline.ts'
import {
  cpuMsOf, freePorts, httpJson, httpOk, logTail, peersOf, postAll, prepareDomain, removeDomain, sleep, startDomain, waitForFederation,
  type Domain, type DomainRunOptions, type RunningDomain
} from './lib/federation.ts'
import { rssOf } from './lib/node-proc.ts'
import { percentile, round } from './lib/procs.ts'
import { buildIsCurrent } from '../bin/build-state.js'

const QUICK = process.env.BENCH_QUICK === '1'
/** what the node processes run (bin/cmesh.js decides the same way) */
const RUNTIME = buildIsCurrent() ? 'node runs the build (dist/)' : 'node runs from source through tsx (dist/ is older than src/)'
const ENTITIES = Number(process.env.BENCH_ENTITIES ?? (QUICK ? 10_000 : 100_000))
const WRITES = Number(process.env.BENCH_WRITES ?? (QUICK ? 50 : 200))
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 4)
const BATCH = Number(process.env.BENCH_BATCH ?? 1000)
const TOPOLOGIES = (process.env.BENCH_TOPOLOGIES ?? (QUICK ? 'line' : 'line,mesh')).split(',').filter(t => t !== '') as Topology[]
const SOLO = process.env.BENCH_SOLO !== '0'
const CATCHUP = (process.env.BENCH_CATCHUP ?? 'restart,fresh').split(',')
const PROFILE_DIR = process.env.BENCH_PROFILE
const TRIO_PROFILE_DIR = process.env.BENCH_PROFILE_TRIO
/** node config merged over the bench's, JSON, for what-if runs (e.g. '{"replication":{"publishDelayMs":0}}') */
const NODE_CONFIG = (process.env.BENCH_NODE_CONFIG ?? '') !== '' ? JSON.parse(process.env.BENCH_NODE_CONFIG as string) as Record<string, Record<string, unknown>> : undefined
/** pause between two GETs at C while polling for a write (0: back to back) */
const POLL_MS = Number(process.env.BENCH_POLL_MS ?? 1)
const RAW_INTERLEAVED = process.env.BENCH_RAW_INTERLEAVED !== '0'

type Topology = 'line' | 'mesh'
const TOPOLOGY_TEXT: Record<Topology, string> = {
  line: 'line A-B-C (A, C not connected), 3 processes, loopback',
  mesh: 'full mesh A-B-C, 3 processes, loopback'
}
const CONFIG_NOTE = NODE_CONFIG != null ? { node_config: NODE_CONFIG } : {}
const MiB = 1024 * 1024
const NGSI = '/ngsi-ld/v1'

interface Trio {
  topology: Topology
  domains: { a: Domain, b: Domain, c: Domain, d: Domain }
  a: RunningDomain
  b: RunningDomain
  c: RunningDomain
  /** how each domain is (re)started */
  runOpts: (d: Domain) => DomainRunOptions
  emptyRss: number[]
}

async function startTrio (topology: Topology): Promise<Trio> {
  const ports = await freePorts(8)
  const [a, b, c, d] = await Promise.all(['a', 'b', 'c', 'd'].map(async (name, i) => await prepareDomain(name, [ports[2 * i], ports[2 * i + 1]])))
  // D is a member from the start (the fresh-join catch-up); it only runs when that is measured.
  const members = [a, b, c, d]
  const bootstrap: Record<string, Domain[]> = topology === 'line'
    ? { a: [b], b: [], c: [b], d: [b] }
    : { a: [b, c], b: [c], c: [], d: [b] }
  const runOpts = (x: Domain): DomainRunOptions => ({
    members,
    bootstrap: bootstrap[x.name],
    config: NODE_CONFIG,
    ...(TRIO_PROFILE_DIR != null ? { execArgv: ['--cpu-prof', `--cpu-prof-dir=${TRIO_PROFILE_DIR}/${x.name}`] } : {})
  })
  const started = await Promise.allSettled([a, b, c].map(async x => await startDomain(x, runOpts(x))))
  const ok = started.flatMap(s => s.status === 'fulfilled' ? [s.value] : [])
  if (ok.length < 3) {
    await Promise.all(ok.map(async n => { await n.stop() }))
    throw (started.find(s => s.status === 'rejected') as PromiseRejectedResult).reason
  }
  const [ra, rb, rc] = ok
  const trio: Trio = { topology, domains: { a, b, c, d }, a: ra, b: rb, c: rc, runOpts, emptyRss: [] }
  try {
    await waitForFederation([ra, rb, rc], 3)
    if (topology === 'line') {
      const cPeers = await peersOf(rc)
      const direct = cPeers.members.find((m: any) => m.domain === 'a')?.connected
      if (direct === true) throw new Error('line topology: C is connected to A')
    }
    // Warm up: gossipsub grafts its mesh on its 1 s heartbeat; one write end to end, then wait.
    await httpOk('POST', `${a.url}${NGSI}/entities`, { id: 'urn:ngsi-ld:Warmup:1', type: 'Warmup', n: { type: 'Property', value: 1 } })
    await pollUntil(async () => (await httpJson('GET', `${c.url}${NGSI}/entities/urn:ngsi-ld:Warmup:1`)).status === 200, 'warm-up write at C', 30_000)
    await sleep(1500)
    trio.emptyRss = await Promise.all([ra, rb, rc].map(async n => await rssOf(n.pid)))
  } catch (err) {
    await stopTrio(trio)
    throw err
  }
  return trio
}

async function stopTrio (t: Trio): Promise<void> {
  await Promise.allSettled([t.a, t.b, t.c].map(async n => { await n.stop() }))
  await Promise.allSettled(Object.values(t.domains).map(async d => { await removeDomain(d) }))
}

async function pollUntil (check: () => Promise<boolean>, what: string, timeoutMs: number, everyMs = 10): Promise<number> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    if (await check()) return performance.now()
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(everyMs)
  }
}

/** No progress for this long while replicating means it is stuck: fail then, with the reason. */
const STALL_MS = Number(process.env.BENCH_STALL_MS ?? 30_000)

/** Watches a counter; throws (with the node's sync state) once it has not moved for STALL_MS. */
function stallWatch (n: RunningDomain): (value: number) => Promise<void> {
  let last = -1
  let since = performance.now()
  return async (value: number) => {
    if (value !== last) { last = value; since = performance.now(); return }
    if (performance.now() - since < STALL_MS) return
    const p = await peersOf(n).catch(() => null)
    const errors = (p?.members ?? []).flatMap((m: any) => m.sync?.lastError != null ? [`${String(m.domain)}: ${String(m.sync.lastError)}`] : [])
    throw new Error(`${n.domain.name} made no progress for ${STALL_MS / 1000} s at ${value} changes applied${errors.length > 0 ? `; anti-entropy errors: ${errors.join('; ')}` : ''}`)
  }
}

/**
 * What the running nodes say when replication is stuck: their counters, anti-entropy errors, and
 * the distinct reasons of rejected gossip in their logs (warn level).
 */
async function diagnose (t: Trio): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {}
  for (const n of [t.a, t.b, t.c]) {
    if (n.child.exitCode != null || n.child.signalCode != null) continue
    const p = await peersOf(n).catch(() => null)
    const reasons = new Set<string>()
    for (const line of (await logTail(n.domain, 20_000)).split('\n')) {
      if (!line.includes('rejected')) continue
      try { reasons.add(String((JSON.parse(line) as { reason?: string }).reason).replace(/\d{5,}/g, 'N')) } catch { /* not JSON */ }
    }
    out[n.domain.name] = {
      replication: p?.replication,
      antiEntropyErrors: (p?.members ?? []).flatMap((m: any) => m.sync?.lastError != null ? [`${String(m.domain)}: ${String(m.sync.lastError)}`] : []),
      rejectReasons: [...reasons]
    }
  }
  return out
}

// ---------------------------------------------------------------- visibility latency

/** Visibility latencies, the write's own answer at A, and the raw gossip probes taken between the writes. */
interface Latencies { visible: number[], ack: number[], raw: number[] }

/**
 * Raw gossipsub A→C probes interleaved with the writes (a raw line of three gossip peers runs
 * beside the trio): each write's latency is set against raw latencies taken moments before it,
 * under the same load, gaps and machine state. A baseline measured once at the start of the run
 * swung 2.8–4.7 ms p50 between runs on this VM, and the ratio with it.
 */
async function rawProbe (raw: RawLine | undefined, out: Latencies): Promise<void> {
  if (raw == null) return
  out.raw.push(await raw.probe())
  await sleep(2)
}

/** PATCH at A, then GET at C (one in flight, POLL_MS apart) until it shows the value. */
async function visibilityByPolling (t: Trio, writes: number, raw?: RawLine): Promise<Latencies> {
  const id = `urn:ngsi-ld:Probe:poll-${t.topology}`
  await httpOk('POST', `${t.a.domain.url}${NGSI}/entities`, { id, type: 'Probe', seq: { type: 'Property', value: 0 } })
  await pollUntil(async () => (await httpJson('GET', `${t.c.domain.url}${NGSI}/entities/${id}`)).status === 200, 'probe entity at C', 30_000)
  const getUrl = `${t.c.domain.url}${NGSI}/entities/${encodeURIComponent(id)}?attrs=seq&options=keyValues`
  const patchUrl = `${t.a.domain.url}${NGSI}/entities/${encodeURIComponent(id)}/attrs`
  const out: Latencies = { visible: [], ack: [], raw: [] }
  for (let i = 1; i <= writes; i++) {
    await rawProbe(raw, out)
    const t0 = performance.now()
    const ack = httpOk('PATCH', patchUrl, { seq: { type: 'Property', value: i } }).then(() => performance.now())
    ack.catch(() => {}) // awaited below; if polling fails first, its rejection must not go unhandled
    let seen = 0
    for (;;) {
      const r = await httpJson('GET', getUrl)
      if (r.status === 200 && r.body?.seq === i) { seen = performance.now(); break }
      if (performance.now() - t0 > 30_000) throw new Error(`write ${i} not visible at C after 30 s`)
      if (POLL_MS > 0) await sleep(POLL_MS)
    }
    out.visible.push(seen - t0)
    out.ack.push(await ack - t0)
    // Light load: the next write a moment after this one is visible (as the raw baseline does).
    await sleep(2)
  }
  return out
}

/** PATCH at A; C notifies an HTTP receiver here through an NGSI-LD subscription. */
async function visibilityByNotification (t: Trio, writes: number, raw?: RawLine): Promise<Latencies> {
  const id = `urn:ngsi-ld:Probe:notify-${t.topology}`
  const waiters = new Map<number, (at: number) => void>()
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const at = performance.now()
      res.writeHead(204).end()
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { data?: Array<{ seq?: unknown }> }
        for (const e of body.data ?? []) {
          const seq = typeof e.seq === 'number' ? e.seq : (e.seq as { value?: number } | undefined)?.value
          if (typeof seq === 'number') waiters.get(seq)?.(at)
        }
      } catch { /* not ours */ }
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  try {
    await httpOk('POST', `${t.c.domain.url}${NGSI}/subscriptions`, {
      id: `urn:ngsi-ld:Subscription:bench-${t.topology}`,
      type: 'Subscription',
      entities: [{ id, type: 'Probe' }],
      watchedAttributes: ['seq'],
      notification: { attributes: ['seq'], format: 'keyValues', endpoint: { uri: `http://127.0.0.1:${port}/notify`, accept: 'application/json' } }
    })
    /** Resolves with the arrival time of the notification for `seq`; fails after 30 s. */
    const notification = (seq: number): { arrived: Promise<number>, cancel: () => void } => {
      let timer: NodeJS.Timeout | undefined
      const arrived = new Promise<number>((resolve, reject) => {
        waiters.set(seq, resolve)
        timer = setTimeout(() => { reject(new Error(`no notification from C for write ${seq} after 30 s`)) }, 30_000)
      })
      arrived.catch(() => {}) // awaited below; a write that fails first must not leave it unhandled
      return { arrived, cancel: () => { clearTimeout(timer); waiters.delete(seq) } }
    }
    const created = notification(0)
    try {
      await httpOk('POST', `${t.a.domain.url}${NGSI}/entities`, { id, type: 'Probe', seq: { type: 'Property', value: 0 } })
      await created.arrived
    } finally { created.cancel() }
    const patchUrl = `${t.a.domain.url}${NGSI}/entities/${encodeURIComponent(id)}/attrs`
    const out: Latencies = { visible: [], ack: [], raw: [] }
    for (let i = 1; i <= writes; i++) {
      await rawProbe(raw, out)
      const n = notification(i)
      try {
        const t0 = performance.now()
        const ack = await httpOk('PATCH', patchUrl, { seq: { type: 'Property', value: i } }).then(() => performance.now())
        const at = await n.arrived
        out.visible.push(at - t0)
        out.ack.push(ack - t0)
      } finally { n.cancel() }
      await sleep(2)
    }
    return out
  } finally {
    await new Promise(resolve => server.close(resolve))
  }
}

function latencyFigures (name: string, l: Latencies, baseline: Map<string, number>, extra: Record<string, unknown>): Figure[] {
  const v = [...l.visible].sort((x, y) => x - y)
  const ack = [...l.ack].sort((x, y) => x - y)
  const interleaved = [...l.raw].sort((x, y) => x - y)
  const figs: Figure[] = []
  for (const p of [50, 99] as const) {
    const separate = baseline.get(`gossip.raw.latency.p${p}`)
    const value = round(percentile(v, p), 2)
    const rawNow = interleaved.length > 0 ? round(percentile(interleaved, p), 3) : undefined
    const raw = rawNow ?? separate
    figs.push({
      name: `${name}.p${p}`,
      value,
      unit: 'ms',
      writes: v.length,
      write_ack_ms: round(percentile(ack, p), 2),
      ...(raw != null ? { raw_gossip_ms: raw, ratio_to_raw_gossip: round(value / raw, 2), raw_gossip_from: rawNow != null ? 'interleaved with the writes' : 'baseline at the start of the run' } : { ratio_to_raw_gossip: null, note: 'run the gossip baseline in the same invocation for the ratio' }),
      ...(rawNow != null && separate != null ? { raw_gossip_baseline_ms: separate, ratio_to_raw_gossip_baseline: round(value / separate, 2) } : {}),
      goal_ratio: 2,
      ...extra
    })
  }
  return figs
}

// ---------------------------------------------------------------- sustained updates

/** Request bodies of a batch upsert: `round` changes the values, so a second pass updates every entity. */
function upsertBodies (entities: number, batch: number, round: number): string[] {
  const bodies: string[] = []
  for (let start = 0; start < entities; start += batch) {
    const items = []
    for (let k = start; k < Math.min(entities, start + batch); k++) {
      items.push({
        id: `urn:ngsi-ld:Thing:${String(k).padStart(7, '0')}`,
        type: `T${k % 10}`,
        level: { type: 'Property', value: (k + round) % 1000 },
        brand: { type: 'Property', value: `b${Math.floor(k / 10) % 10}` },
        round: { type: 'Property', value: round },
        location: { type: 'GeoProperty', value: { type: 'Point', coordinates: [2 + (k % 100) / 100, 41 + (k % 50) / 100] } }
      })
    }
    bodies.push(JSON.stringify(items))
  }
  return bodies
}

/** Sends the bodies from `clients` parallel clients; resolves when every request is answered. */
async function upsertAll (url: string, bodies: string[], clients: number): Promise<void> {
  await postAll(`${url}${NGSI}/entityOperations/upsert`, bodies, clients, [201, 204])
}

/** Changes applied from other domains (gossip + anti-entropy) since the node started: cheap to read. */
async function appliedAt (n: RunningDomain): Promise<number> {
  const r = (await peersOf(n)).replication
  return r == null ? 0 : Number(r.gossipApplied) + Number(r.syncApplied)
}

async function replicationStats (n: RunningDomain): Promise<Record<string, number>> {
  return (await peersOf(n)).replication ?? {}
}

/** Why /mesh/v1/digest could not be used, if it failed (reported with the figures). */
let digestProblem: string | null = null

/** A node's version vector from its digest; null when the digest fails (the reason is kept). */
async function versionVector (n: RunningDomain): Promise<Record<string, number> | null> {
  const r = await httpJson('GET', `${n.domain.url}/mesh/v1/digest`)
  if (r.status === 200) return r.body.versionVector as Record<string, number>
  if (digestProblem == null) {
    const line = (await logTail(n.domain, 50)).split('\n').reverse().find(l => l.includes('/mesh/v1/digest'))
    let cause = ''
    try { cause = (JSON.parse(line ?? '{}') as { err?: { message?: string } }).err?.message ?? '' } catch { /* not JSON */ }
    digestProblem = `GET /mesh/v1/digest → ${r.status}${cause !== '' ? ` (node log: ${cause})` : ''}`
    process.stderr.write(`bench: ${digestProblem}; falling back to change counters and heartbeat lag\n`)
  }
  return null
}

/** Cheap: every other running domain is alive here, has sent a heartbeat, and this node lacks nothing it has. */
async function noLag (n: RunningDomain, others: string[]): Promise<boolean> {
  const members = (await peersOf(n)).members as Array<{ domain: string | null, state: string, heartbeats: number, sync?: { lag: number } }>
  return others.every(name => {
    const m = members.find(x => x.domain === name)
    return m != null && m.state === 'alive' && m.heartbeats > 0 && m.sync?.lag === 0
  })
}

/**
 * Exact check that `n` holds everything: its version vector reaches `target` (A's, from the
 * digest). Without a digest, the heartbeat lag (version vectors in heartbeats) must be 0.
 */
async function confirmCaughtUp (target: Record<string, number> | null, n: RunningDomain, others: string[], timeoutMs: number): Promise<string> {
  if (target != null) {
    await pollUntil(async () => {
      const vv = await versionVector(n)
      return vv == null || Object.entries(target).every(([o, s]) => (vv[o] ?? 0) >= s)
    }, `${n.domain.name}'s version vector to reach ${JSON.stringify(target)}`, timeoutMs, 250)
    if (digestProblem == null) return 'digest version vector equal to A\'s'
  }
  await pollUntil(async () => await noLag(n, others), `${n.domain.name} to show no lag`, timeoutMs, 250)
  return 'heartbeat version vectors: lag 0 to every member (digest unavailable)'
}

interface SustainedResult {
  updates: number
  seconds: number
  ingestSeconds: number
  toBSeconds: number
  confirmedBy: string
  /** CPU ms per 1000 updates: A, B, C, and this bench process (client + polling) */
  cpuMsPer1000: number[]
  statsA: Record<string, number>
  statsB: Record<string, number>
  statsC: Record<string, number>
  bodyBytes: number
}

async function sustained (t: Trio, entities: number, pass: number): Promise<SustainedResult> {
  const bodies = upsertBodies(entities, BATCH, pass)
  const [baseB, baseC] = await Promise.all([appliedAt(t.b), appliedAt(t.c)])
  const cpu0 = await Promise.all([t.a, t.b, t.c].map(async n => await cpuMsOf(n.pid)))
  const benchCpu0 = process.cpuUsage()
  let tB = 0
  let tC = 0
  let ackedAt = 0
  const t0 = performance.now()
  const writing = upsertAll(t.a.domain.url, bodies, CLIENTS).then(() => { ackedAt = performance.now() })
  let failed: unknown
  writing.catch((err) => { failed = err })
  const deadline = t0 + Math.max(180_000, entities * 5)
  const watchC = stallWatch(t.c)
  while (tC === 0 || tB === 0) {
    if (failed != null) throw failed
    const [nb, nc] = await Promise.all([appliedAt(t.b), appliedAt(t.c)])
    await watchC(nc)
    const now = performance.now()
    if (tB === 0 && nb - baseB >= entities) tB = now
    if (tC === 0 && nc - baseC >= entities) tC = now
    if (now > deadline) throw new Error(`sustained: C applied ${nc - baseC} of ${entities} changes in ${Math.round((now - t0) / 1000)} s`)
    await sleep(20)
  }
  await writing
  const cpu1 = await Promise.all([t.a, t.b, t.c].map(async n => await cpuMsOf(n.pid)))
  const benchCpu = process.cpuUsage(benchCpu0)
  const cpuMsPer1000 = [...cpu1.map((c, i) => c - cpu0[i]), (benchCpu.user + benchCpu.system) / 1000].map(ms => round(ms / (entities / 1000), 1))
  // Exact check: C's version vector for every origin equals A's.
  const confirmedBy = await confirmCaughtUp(await versionVector(t.a), t.c, ['a', 'b'], 60_000)
  const [statsA, statsB, statsC] = await Promise.all([replicationStats(t.a), replicationStats(t.b), replicationStats(t.c)])
  return {
    updates: entities,
    seconds: (tC - t0) / 1000,
    ingestSeconds: (ackedAt - t0) / 1000,
    toBSeconds: (tB - t0) / 1000,
    confirmedBy,
    cpuMsPer1000,
    statsA,
    statsB,
    statsC,
    bodyBytes: Math.round(bodies.reduce((n, b) => n + b.length, 0) / bodies.length)
  }
}

/** How many of the bench's Thing entities a node holds (NGSILD-Results-Count of a type query). */
async function thingsAt (n: RunningDomain): Promise<number> {
  const types = Array.from({ length: 10 }, (_, i) => `T${i}`).join(',')
  const r = await httpOk('GET', `${n.domain.url}${NGSI}/entities?type=${types}&count=true&limit=1`)
  return Number(r.headers['ngsild-results-count'] ?? NaN)
}

// ---------------------------------------------------------------- catch-up

interface CatchupResult {
  changes: number
  fromSpawnSeconds: number
  afterReadySeconds: number
  startupSeconds: number
  appliedAtReady: number
  rssBytes: number
  stats: Record<string, number>
  confirmedBy: string
  /** CPU (all threads, from /proc) of the catching-up node once its API was up, and of B, serving it */
  cpuMsAfterReady: number
  cpuMsServingB: number
}

/**
 * Starts `d` and waits until it has caught up: `expected` changes applied (counters, cheap),
 * or, when the count is unknown, no lag to A and B; then confirms with the version vectors.
 */
async function catchUp (t: Trio, d: Domain, expected: number | null): Promise<{ node: RunningDomain, result: CatchupResult }> {
  const target = await versionVector(t.a)
  const opts = t.runOpts(d)
  const cpuB0 = await cpuMsOf(t.b.pid)
  const node = await startDomain(d, PROFILE_DIR != null ? { ...opts, execArgv: ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] } : opts)
  let appliedAtReady = 0
  let changes = 0
  let doneAt = 0
  let confirmedBy = ''
  let cpuAtReady = 0
  let cpuAtDone = 0
  let cpuBAtDone = 0
  try {
    cpuAtReady = await cpuMsOf(node.pid)
    appliedAtReady = await appliedAt(node)
    const watch = stallWatch(node)
    doneAt = await pollUntil(async () => {
      changes = await appliedAt(node)
      await watch(changes)
      return expected != null ? changes >= expected : changes > 0 && await noLag(node, ['a', 'b'])
    }, `${d.name} to catch up (${expected ?? 'no lag'})`, Math.max(300_000, (expected ?? 0) * 5), 20)
    cpuAtDone = await cpuMsOf(node.pid)
    cpuBAtDone = await cpuMsOf(t.b.pid)
    confirmedBy = await confirmCaughtUp(target, node, ['a', 'b'], 60_000)
  } catch (err) {
    const p = await peersOf(node).catch(() => null)
    process.stderr.write(`bench: ${d.name} did not catch up; its /mesh/v1/peers: ${JSON.stringify({ replication: p?.replication, members: p?.members?.map((m: any) => ({ domain: m.domain, state: m.state, connected: m.connected, sync: m.sync })) })}\n`)
    await node.stop()
    throw err
  }
  const stats = await replicationStats(node)
  return {
    node,
    result: {
      changes,
      fromSpawnSeconds: (doneAt - node.spawnedAt) / 1000,
      afterReadySeconds: (doneAt - node.readyAt) / 1000,
      startupSeconds: (node.readyAt - node.spawnedAt) / 1000,
      appliedAtReady,
      rssBytes: await rssOf(node.pid),
      stats,
      confirmedBy,
      cpuMsAfterReady: cpuAtDone - cpuAtReady,
      cpuMsServingB: cpuBAtDone - cpuB0
    }
  }
}

function catchupFigure (name: string, r: CatchupResult, extra: Record<string, unknown>): Figure {
  return {
    name,
    value: Math.round(r.changes / r.fromSpawnSeconds),
    unit: 'updates/s',
    changes: r.changes,
    seconds_from_spawn: round(r.fromSpawnSeconds),
    node_startup_seconds: round(r.startupSeconds),
    applied_when_api_up: r.appliedAtReady,
    rate_after_api_up: round((r.changes - r.appliedAtReady) / Math.max(0.001, r.afterReadySeconds), 0),
    // CPU per 1,000 changes, comparable with the floor bench's cpu_us_per_item (µs per change).
    cpu_ms_per_1000_changes: {
      catching_up_after_api_up: round(r.cpuMsAfterReady / Math.max(1, (r.changes - r.appliedAtReady) / 1000), 1),
      serving_b: round(r.cpuMsServingB / Math.max(1, r.changes / 1000), 1)
    },
    via_anti_entropy: r.stats.syncApplied,
    via_gossip: r.stats.gossipApplied,
    confirmed_by: r.confirmedBy,
    goal: 50_000,
    ...extra
  }
}

// ---------------------------------------------------------------- the bench

export async function replicationBench (baseline: Map<string, number>): Promise<Figure[]> {
  const figures: Figure[] = []
  // The 1-minute load average goes with every figure: on a shared 2-core machine it explains spreads.
  const emit = (f: Figure): void => {
    f.loadavg_1m = round(loadavg()[0], 2)
    figures.push(f)
    process.stderr.write(`bench:   ${JSON.stringify(f)}\n`)
  }
  // The same batch load on a lone node (no federation): what A's write path does without peers,
  // so that the sustained figures can say what replication costs the writer.
  let solo: number | undefined
  if (SOLO) {
    process.stderr.write(`bench: replication: a lone node, ${ENTITIES} entities in batches of ${BATCH} from ${CLIENTS} clients …\n`)
    const [p1, p2] = await freePorts(2)
    const d = await prepareDomain('solo', [p1, p2])
    const node = await startDomain(d, { members: [], bootstrap: [], config: NODE_CONFIG })
    try {
      const cpu0 = await cpuMsOf(node.pid)
      const t0 = performance.now()
      await upsertAll(d.url, upsertBodies(ENTITIES, BATCH, 0), CLIENTS)
      solo = ENTITIES / ((performance.now() - t0) / 1000)
      const cpuPer1000 = round((await cpuMsOf(node.pid) - cpu0) / (ENTITIES / 1000), 1)
      emit({ name: 'replication.ingest.solo', value: Math.round(solo), unit: 'updates/s', entities: ENTITIES, batch: BATCH, clients: CLIENTS, cpu_ms_per_1000_updates: cpuPer1000, note: 'one node, no federation: the batch upserts acknowledged per second (A\'s write path without peers)', ...CONFIG_NOTE })
    } finally {
      await node.stop()
      await removeDomain(d)
    }
  }
  for (const topology of TOPOLOGIES) {
    process.stderr.write(`bench: replication ${topology}: starting A, B, C …\n`)
    const t = await startTrio(topology)
    try {
      const common = { topology: TOPOLOGY_TEXT[topology], ...CONFIG_NOTE }
      // A raw gossip line beside the trio, probed between the writes (rawProbe), for the ratios.
      const rawLine = RAW_INTERLEAVED ? await startRawLine() : undefined
      let polled: Latencies
      let notified: Latencies
      try {
        process.stderr.write(`bench: replication ${topology}: visibility (${WRITES} writes, polling C) …\n`)
        polled = await visibilityByPolling(t, WRITES, rawLine)
        process.stderr.write(`bench: replication ${topology}: visibility (${WRITES} writes, subscription at C) …\n`)
        notified = await visibilityByNotification(t, WRITES, rawLine)
      } finally {
        await rawLine?.stop()
      }
      for (const f of latencyFigures(`replication.visibility.${topology}`, polled, baseline, { method: `PATCH at A, GET at C until it shows the value (one GET in flight, ${POLL_MS} ms apart)`, ...common })) emit(f)
      for (const f of latencyFigures(`replication.visibility_notify.${topology}`, notified, baseline, { method: 'PATCH at A, NGSI-LD notification from C to a receiver in the bench process', ...common })) emit(f)

      // A figure that cannot be measured (replication stuck) is a finding, not the end of the run:
      // it is reported with `failed: true`, the reason and what the nodes say, and the others go on.
      const attempt = async (name: string, unit: string, goal: number, fn: () => Promise<void>): Promise<void> => {
        try { await fn() } catch (err) {
          process.stderr.write(`bench: ${name} FAILED: ${(err as Error).message}\n`)
          emit({ name, value: 0, unit, failed: true, error: (err as Error).message, diagnosis: await diagnose(t), goal, ...common })
        }
      }

      process.stderr.write(`bench: replication ${topology}: sustained, ${ENTITIES} entities in batches of ${BATCH} from ${CLIENTS} clients …\n`)
      let sustainedOk = false
      await attempt(`replication.sustained.${topology}`, 'updates/s', 10_000, async () => {
        const s = await sustained(t, ENTITIES, 0)
        sustainedOk = true
        const perS = s.updates / s.seconds
        const rawThroughput = baseline.get('gossip.raw.throughput')
        const single = baseline.get('ngsi.batch_upsert')
        emit({
          name: `replication.sustained.${topology}`,
          value: Math.round(perS),
          unit: 'updates/s',
          entities: s.updates,
          batch: BATCH,
          clients: CLIENTS,
          body_bytes: s.bodyBytes,
          seconds: round(s.seconds),
          ingest_at_a_per_s: Math.round(s.updates / s.ingestSeconds),
          at_b_per_s: Math.round(s.updates / s.toBSeconds),
          tail_after_last_ack_ms: Math.round((s.seconds - s.ingestSeconds) * 1000),
          cpu_ms_per_1000_updates: { a: s.cpuMsPer1000[0], b: s.cpuMsPer1000[1], c: s.cpuMsPer1000[2], bench_client: s.cpuMsPer1000[3] },
          cpu_bound_per_s: Math.round(2 * 1000 * 1000 / s.cpuMsPer1000.reduce((x, y) => x + y, 0)),
          c_via_gossip: s.statsC.gossipApplied,
          c_via_anti_entropy: s.statsC.syncApplied,
          a_gossip_messages: s.statsA.published,
          a_dropped_from_gossip_queue: s.statsA.dropped,
          b_rejected: s.statsB.rejected,
          c_rejected: s.statsC.rejected,
          confirmed_by: s.confirmedBy,
          ...(rawThroughput != null ? { raw_gossip_msg_per_s: rawThroughput } : {}),
          ...(solo != null ? { solo_ingest_per_s: Math.round(solo), ratio_to_solo: round(perS / solo, 2) } : {}),
          ...(single != null ? { ngsi_batch_upsert_per_s: single } : {}),
          goal: 10_000,
          ...common
        })
      })

      const rss = await Promise.all([t.a, t.b, t.c].map(async n => await rssOf(n.pid)))
      const held = await Promise.all([t.a, t.b, t.c].map(async n => await thingsAt(n)))
      const rssFigs = ['a', 'b', 'c'].map((name, i) => ({
        name: `replication.rss.${topology}.${name}`,
        value: Math.round(rss[i] / MiB),
        unit: 'MiB',
        entities: held[i],
        empty_node_mib: Math.round(t.emptyRss[i] / MiB),
        per_1000_entities_mib: round((rss[i] - t.emptyRss[i]) / MiB / (held[i] / 1000), 2),
        note: `${name === 'a' ? 'the writer' : name === 'b' ? 'relay' : 'replica'}; ${RUNTIME}, default ngsi.cacheSize`,
        ...common
      }))
      for (const f of rssFigs) emit(f)
      if (sustainedOk && topology === TOPOLOGIES[0]) {
        // Steady state: B restarted on its data dir rebuilds its indexes from the records and
        // holds no garbage from the write burst (RSS never shrinks after one).
        await attempt(`replication.rss.${topology}.b_restarted`, 'MiB', 0, async () => {
          await t.b.stop()
          t.b = await startDomain(t.domains.b, t.runOpts(t.domains.b))
          await waitForFederation([t.a, t.b, t.c], 3)
          await sleep(3000)
          const rssB = await rssOf(t.b.pid)
          const heldB = await thingsAt(t.b)
          emit({
            name: `replication.rss.${topology}.b_restarted`,
            value: Math.round(rssB / MiB),
            unit: 'MiB',
            entities: heldB,
            empty_node_mib: Math.round(t.emptyRss[1] / MiB),
            per_1000_entities_mib: round((rssB - t.emptyRss[1]) / MiB / (heldB / 1000), 2),
            startup_seconds: round((t.b.readyAt - t.b.spawnedAt) / 1000),
            note: 'B restarted on its data dir (indexes rebuilt from the records, ngsi.cacheSize entities cached): steady state without write-burst garbage',
            ...common
          })
        })
      }

      // Catch-up once, in the line (C behind B, as in the partition tests).
      if (topology === TOPOLOGIES[0]) {
        if (CATCHUP.includes('restart')) {
          await attempt('replication.catchup.restart', 'updates/s', 50_000, async () => {
            process.stderr.write(`bench: replication ${topology}: catch-up after restart: C stopped, ${ENTITIES} updates at A …\n`)
            await t.c.stop()
            const baseB = await appliedAt(t.b)
            await upsertAll(t.a.domain.url, upsertBodies(ENTITIES, BATCH, 1), CLIENTS)
            const watchB = stallWatch(t.b)
            await pollUntil(async () => {
              const k = await appliedAt(t.b)
              await watchB(k)
              return k - baseB >= ENTITIES
            }, 'B to hold the updates C missed', Math.max(300_000, ENTITIES * 5), 50)
            const { node, result } = await catchUp(t, t.domains.c, ENTITIES)
            t.c = node
            emit(catchupFigure('replication.catchup.restart', result, { missed: ENTITIES, holding_entities: ENTITIES, served_by: 'B', ...common }))
          })
        }
        if (CATCHUP.includes('fresh')) {
          await attempt('replication.catchup.fresh', 'updates/s', 50_000, async () => {
            const vv = await versionVector(t.a)
            const total = vv == null ? null : Object.values(vv).reduce((n, v) => n + v, 0)
            process.stderr.write(`bench: replication ${topology}: catch-up of a fresh domain D (empty data dir) pulling ${total ?? 'all'} changes …\n`)
            const { node, result } = await catchUp(t, t.domains.d, total)
            try {
              emit(catchupFigure('replication.catchup.fresh', result, { entities: ENTITIES, served_by: 'B', note: 'D starts with an empty data dir and pulls every change of A\'s log', ...common }))
              emit({ name: 'replication.rss.fresh_d', value: Math.round(result.rssBytes / MiB), unit: 'MiB', entities: ENTITIES, note: 'right after catching up', ...common })
            } finally {
              await node.stop()
            }
          })
        }
      }
    } catch (err) {
      for (const d of Object.values(t.domains)) {
        const tail = await logTail(d, 8)
        if (tail !== '') process.stderr.write(`bench: log of ${d.name} (last lines):\n${tail}\n`)
      }
      throw err
    } finally {
      await stopTrio(t)
    }
  }
  return figures
}

/**
 * Scale: convergence time of one write as the federation grows, in a sparse topology (node i
 * bootstraps to 2–3 random nodes among 0..i-1 with fewer than 8 links, seeded;
 * `mesh.connectToMembers: false`; see bench/lib/topology.ts for why the degree is capped). Writes
 * are creates through the REST API of rotating writers, one at a time; a write has converged when
 * every node has committed it.
 *
 * Two ways to run N domains on this 2-core machine:
 * - `inproc` (every N in BENCH_SCALE_SIZES, default 3,10,20,30): a child process holds N
 *   ContinuumNode instances (bench/lib/scale-worker.ts). It sees inside: when gossipsub handed
 *   the change to each node and from which peer (so the hops taken are observed), and when the
 *   store committed it. The N nodes share one event loop, so every write's processing at all N
 *   nodes is serialised on one core: convergence grows with N for that reason too, and large-N
 *   figures are upper bounds of what N machines would show. UV_THREADPOOL_SIZE is raised to N
 *   so synced LevelDB writes do not queue behind libuv's 4 default threads.
 * - `procs` (N ≤ BENCH_SCALE_PROCS_MAX, default 10): N real node processes (the CLI), each with
 *   an NGSI-LD subscription to Probe entities whose notifications reach a receiver here; arrival
 *   = notification (adds ~1 ms of notification work per node). Hops are the graph distance over
 *   the connections the nodes report (gossip paths are not visible from outside).
 *
 * The model: a gossipsub mesh of degree D reaches N nodes in about log N / log D hops (D = 6);
 * in a sparse graph a node's mesh degree is capped by its connections, so the model with the
 * graph's mean degree is given too. Figures as JSON lines and a markdown table on stderr.
 *
 * Knobs: BENCH_SCALE_SIZES, BENCH_SCALE_WRITES (60; quick 20), BENCH_SCALE_SECONDS (60 per size),
 * BENCH_SCALE_HEARTBEAT (scaled | default, see below), BENCH_SCALE_MODE (inproc,procs),
 * BENCH_SCALE_PROCS_MAX (10), BENCH_SCALE_SEED (42), BENCH_SCALE_LINE=1 (chain instead of the
 * sparse graph), BENCH_SCALE_CONFIG (JSON merged over the node config, for what-if runs).
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Figure } from './gossip-baseline.ts'
import { cleanUpAtExit, freePorts, httpJson, httpOk, peersOf, prepareDomain, removeDomain, sleep, startDomain, waitForFederation, type Domain, type RunningDomain } from './lib/federation.ts'
import { rssOf } from './lib/node-proc.ts'
import { percentile, round, spawnTs } from './lib/procs.ts'
import { bfs, graphStats, lineTopology, sparseTopology } from './lib/topology.ts'

const QUICK = process.env.BENCH_QUICK === '1'
const SIZES = (process.env.BENCH_SCALE_SIZES ?? (QUICK ? '3,10' : '3,10,20,30')).split(',').map(Number).filter(n => n >= 2)
const WRITES = Number(process.env.BENCH_SCALE_WRITES ?? (QUICK ? 20 : 60))
const SEED = Number(process.env.BENCH_SCALE_SEED ?? 42)
const MODES = (process.env.BENCH_SCALE_MODE ?? 'inproc,procs').split(',')
const PROCS_MAX = Number(process.env.BENCH_SCALE_PROCS_MAX ?? 10)
/** node config merged over the defaults, JSON, for what-if runs (e.g. '{"replication":{"publishDelayMs":0}}') */
const NODE_CONFIG = (process.env.BENCH_SCALE_CONFIG ?? '') !== '' ? JSON.parse(process.env.BENCH_SCALE_CONFIG as string) as Record<string, Record<string, unknown>> : undefined
/**
 * Membership heartbeats: each node validates every member's heartbeat every second, so N nodes
 * in one process do N² validations a second (at N = 30 that alone saturates the event loop —
 * measured: event-loop utilisation 0.33 / 0.81 / 1.00 for 10 / 20 / 30 idle nodes). Unless
 * BENCH_SCALE_HEARTBEAT=default, the interval is scaled to max(1 s, N × 100 ms) (suspect/dead
 * after 3.5× / 10×), which holds the process's heartbeat load to what one node of a 10-domain
 * federation sees, so that the figures measure the write's convergence, not heartbeat overload.
 */
const SCALE_HEARTBEATS = process.env.BENCH_SCALE_HEARTBEAT !== 'default'
/** How long to keep writing at one size (the writes stop at BENCH_SCALE_WRITES or this, first). */
const SECONDS_PER_SIZE = Number(process.env.BENCH_SCALE_SECONDS ?? 60)

function nodeConfigFor (n: number): Record<string, Record<string, unknown>> | undefined {
  const hb = Math.max(1000, n * 100)
  if (!SCALE_HEARTBEATS || hb === 1000) return NODE_CONFIG
  return { ...NODE_CONFIG, mesh: { heartbeatIntervalMs: hb, suspectAfterMs: 3.5 * hb, deadAfterMs: 10 * hb, ...NODE_CONFIG?.mesh } }
}

/** BENCH_SCALE_LINE=1: chain the nodes 0–1–…–N-1 (hops = distance) instead of the sparse graph */
const LINE = process.env.BENCH_SCALE_LINE === '1'
/** gossipsub's D (GossipsubD in @libp2p/gossipsub), which the mesh does not change */
const GOSSIPSUB_D = 6
const GAP_MS = 50

/**
 * One write: per node, ms after the write was sent when it was committed (perNode) and when
 * gossip handed it over (recv), the peer it came from (from) and the hops it took; -1 where
 * unknown (not by gossip, or not observable in `procs` mode, where hops are graph distances).
 */
interface WriteResult { writer: number, convergence: number, perNode: number[], recv: number[], from: number[], hops: number[], bfs: number[] }
interface ScaleResult {
  n: number
  startedMs: number
  formedMs: number
  edges: number
  meanDegree: number
  maxDegree: number
  diameter: number
  results: WriteResult[]
  /** the whole process (inproc) or the mean per node process (procs) */
  rssBytes: number
}

async function runInProcess (n: number): Promise<ScaleResult> {
  const root = await mkdtemp(join(tmpdir(), `cmesh-bench-scale-${n}-`))
  const before = process.env.UV_THREADPOOL_SIZE
  process.env.UV_THREADPOOL_SIZE = String(Math.min(64, Math.max(4, n)))
  const worker = spawnTs('bench/lib/scale-worker.ts')
  if (before == null) delete process.env.UV_THREADPOOL_SIZE; else process.env.UV_THREADPOOL_SIZE = before
  const forget = cleanUpAtExit({ child: worker.child, dir: root })
  try {
    await worker.next(m => m.evt === 'ready')
    worker.send({ cmd: 'run', n, writes: WRITES, seconds: SECONDS_PER_SIZE, root, seed: SEED + n, gapMs: GAP_MS, config: nodeConfigFor(n), line: LINE })
    return await worker.next<ScaleResult>(m => m.evt === 'result', 900_000)
  } finally {
    await worker.stop()
    await rm(root, { recursive: true, force: true })
    forget()
  }
}

/** Starts at most `limit` at a time (each node process compiles the sources on start). */
async function limited<T, R> (items: T[], limit: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length)
  let next = 0
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) { const i = next++; out[i] = await fn(items[i]) }
  }))
  return out
}

async function runProcesses (n: number): Promise<ScaleResult> {
  const ports = await freePorts(2 * n)
  const domains: Domain[] = await Promise.all(Array.from({ length: n }, async (_, i) => await prepareDomain(`s${i}`, [ports[2 * i], ports[2 * i + 1]])))
  const topo = LINE ? lineTopology(n) : sparseTopology(n, SEED + n)
  const nodes: RunningDomain[] = []
  // Notifications: /n/<node>; body data[].id → the write.
  const arrivals = new Map<string, number[]>()
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const at = performance.now()
      res.writeHead(204).end()
      const node = Number(/^\/n\/(\d+)/.exec(req.url ?? '')?.[1])
      try {
        for (const e of (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { data?: Array<{ id: string }> }).data ?? []) {
          const a = arrivals.get(e.id)
          if (a != null && a[node] === 0) a[node] = at
        }
      } catch { /* not ours */ }
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const receiver = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  try {
    const t0 = performance.now()
    nodes.push(...await limited(domains, 4, async (d) => await startDomain(d, {
      members: domains,
      bootstrap: topo[Number(d.name.slice(1))].map(j => domains[j]),
      federation: 'scale',
      config: nodeConfigFor(n) ?? {},
      startTimeoutMs: 300_000
    })))
    const startedMs = performance.now() - t0
    await waitForFederation(nodes, n, 180_000)
    const formedMs = performance.now() - t0
    await Promise.all(nodes.map(async (node, i) => await httpOk('POST', `${node.domain.url}/ngsi-ld/v1/subscriptions`, {
      id: `urn:ngsi-ld:Subscription:scale-${i}`,
      type: 'Subscription',
      entities: [{ type: 'Probe' }],
      notification: { format: 'keyValues', attributes: ['w'], endpoint: { uri: `${receiver}/n/${i}`, accept: 'application/json' } }
    })))
    // The connection graph as the nodes report it.
    const index = new Map(domains.map((d, i) => [d.peerId, i]))
    const adj = nodes.map(() => new Set<number>())
    await Promise.all(nodes.map(async (node, i) => {
      for (const m of (await peersOf(node)).members as Array<{ peerId: string, connected: boolean, self: boolean }>) {
        const j = index.get(m.peerId)
        if (j != null && m.connected && !m.self) { adj[i].add(j); adj[j].add(i) }
      }
    }))
    const write = async (w: number, tag: string): Promise<WriteResult> => {
      const writer = w % n
      const id = `urn:ngsi-ld:Probe:${tag}-${w}`
      const at = nodes.map(() => 0)
      arrivals.set(id, at)
      const start = performance.now()
      const r = await httpJson('POST', `${nodes[writer].domain.url}/ngsi-ld/v1/entities`, { id, type: 'Probe', w: { type: 'Property', value: w } })
      if (r.status !== 201) throw new Error(`create at s${writer} → ${r.status}: ${r.text.slice(0, 200)}`)
      const until = Date.now() + 30_000
      while (at.some(t => t === 0)) {
        if (Date.now() > until) throw new Error(`write ${id} reached ${at.filter(t => t > 0).length} of ${n} nodes in 30 s`)
        await sleep(2)
      }
      arrivals.delete(id)
      const dist = bfs(adj, writer)
      return { writer, convergence: Math.max(...at) - start, perNode: at.map(t => t - start), recv: at.map(() => -1), from: at.map(() => -1), hops: dist, bfs: dist }
    }
    await sleep(2000)
    for (let w = 0; w < Math.min(n, 5); w++) await write(w, 'warmup')
    const results: WriteResult[] = []
    const stopAt = performance.now() + SECONDS_PER_SIZE * 1000
    for (let w = 0; w < WRITES && performance.now() < stopAt; w++) {
      results.push(await write(w, 'probe'))
      await sleep(GAP_MS)
    }
    const rss = await Promise.all(nodes.map(async node => await rssOf(node.pid)))
    return {
      n,
      startedMs,
      formedMs,
      ...graphStats(adj),
      results,
      rssBytes: rss.reduce((x, y) => x + y, 0) / n
    }
  } finally {
    await new Promise(resolve => server.close(resolve))
    await Promise.allSettled(nodes.map(async node => { await node.stop() }))
    await Promise.allSettled(domains.map(async d => { await removeDomain(d) }))
  }
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)
const med = (xs: number[]): number => round(percentile([...xs].sort((a, b) => a - b), 50), 2)

function figureOf (mode: 'inproc' | 'procs', r: ScaleResult, baseline: Map<string, number>): { fig: Figure, row: string } {
  const { n } = r
  const conv = r.results.map(x => x.convergence).sort((a, b) => a - b)
  const counted = (x: WriteResult, i: number): boolean => i !== x.writer && x.hops[i] >= 0
  const hopsMax = r.results.map(x => Math.max(0, ...x.hops.filter((_, i) => counted(x, i))))
  const hopsMean = r.results.map(x => mean(x.hops.filter((_, i) => counted(x, i))))
  const bfsMax = r.results.map(x => Math.max(...x.bfs))
  const notByGossip = mode === 'inproc' ? r.results.reduce((k, x) => k + x.hops.filter((h, i) => i !== x.writer && h < 0).length, 0) : undefined
  const modelD = Math.log(n) / Math.log(GOSSIPSUB_D)
  const modelDeg = Math.log(n) / Math.log(Math.max(2, r.meanDegree))
  // Median arrival by hop count (robust to the tail): how the time grows along the paths.
  const byHop = new Map<number, number[]>()
  for (const x of r.results) x.hops.forEach((h, i) => { if (counted(x, i)) byHop.set(h, [...(byHop.get(h) ?? []), x.perNode[i]]) })
  const arrivalByHop = Object.fromEntries([...byHop].sort((a, b) => a[0] - b[0]).map(([h, ts]) => [h, med(ts)]))
  // Deliveries that took a longer path than the graph's shortest (inproc: observed hops): a node
  // the eager mesh push missed, reached later by gossip (IHAVE/IWANT on the 1 s heartbeat).
  const detours = mode === 'inproc' ? r.results.flatMap(x => x.hops.flatMap((h, i) => counted(x, i) && h > x.bfs[i] ? [x.perNode[i]] : [])) : []
  const deliveries = r.results.reduce((k, x) => k + x.hops.filter((_, i) => counted(x, i)).length, 0)
  // Where the time goes (inproc only; medians over all writes and nodes): the write at the writer
  // (HTTP + commit), the first hop (batching delay, publish, transfer, validation), each relay hop
  // (forwarding after validation, transfer, validation), and the apply (merge + commit).
  const breakdown = mode === 'inproc'
    ? {
        write_commit_ms: med(r.results.map(x => x.perNode[x.writer])),
        first_hop_ms: med(r.results.flatMap(x => x.hops.flatMap((h, i) => h === 1 && counted(x, i) ? [x.recv[i] - x.perNode[x.writer]] : []))),
        relay_hop_ms: med(r.results.flatMap(x => x.hops.flatMap((h, i) => {
          const from = x.from[i]
          return h >= 2 && counted(x, i) && from >= 0 && x.recv[from] >= 0 ? [x.recv[i] - x.recv[from]] : []
        }))),
        apply_ms: med(r.results.flatMap(x => x.recv.flatMap((t, i) => counted(x, i) && t >= 0 ? [x.perNode[i] - t] : [])))
      }
    : undefined
  const p50 = round(percentile(conv, 50), 1)
  const p99 = round(percentile(conv, 99), 1)
  const rawP50 = baseline.get('gossip.raw.latency.p50')
  const fig: Figure = {
    name: mode === 'inproc' ? `scale.convergence.n${n}` : `scale.convergence.procs.n${n}`,
    value: p50,
    unit: 'ms',
    n,
    mode: mode === 'inproc' ? `${n} nodes in one process (shared event loop)` : `${n} node processes (CLI), arrival = subscription notification`,
    p50_ms: p50,
    p99_ms: p99,
    max_ms: round(conv[conv.length - 1], 1),
    writes: conv.length,
    hops_source: mode === 'inproc' ? 'observed (gossipsub propagation source)' : 'graph distance over the connections',
    hops_max_mean: round(mean(hopsMax), 2),
    hops_mean: round(mean(hopsMean), 2),
    hops_graph_max_mean: round(mean(bfsMax), 2),
    hops_model_logN_logD: round(modelD, 2),
    hops_model_logN_log_mean_degree: round(modelDeg, 2),
    arrival_p50_ms_by_hops: arrivalByHop,
    ...(mode === 'inproc' ? { detours: { share: round(detours.length / Math.max(1, deliveries), 4), arrival_p50_ms: med(detours) } } : {}),
    ...(breakdown != null ? { breakdown_p50: breakdown } : {}),
    ...(notByGossip != null ? { not_by_gossip: notByGossip } : {}),
    graph: { edges: r.edges, mean_degree: round(r.meanDegree, 2), max_degree: r.maxDegree, diameter: r.diameter },
    federation_formed_s: round(r.formedMs / 1000, 1),
    [mode === 'inproc' ? 'process_rss_mib' : 'rss_per_node_mib']: Math.round(r.rssBytes / 1024 / 1024),
    ...(rawP50 != null ? { raw_gossip_2hop_p50_ms: rawP50 } : {}),
    topology: LINE ? 'line 0-1-…-(N-1), connectToMembers false' : 'sparse: node i bootstraps to 2-3 random nodes < i with degree < 8, connectToMembers false',
    ...(nodeConfigFor(n) != null ? { node_config: nodeConfigFor(n) } : {}),
    loadavg_1m: round(loadavg()[0], 2),
    what: 'create at one node (REST) → committed at every node; writers rotate'
  }
  const fit = Object.entries(arrivalByHop).map(([h, ms]) => `${h}: ${round(ms, 1)}`).join(', ')
  const row = `| ${n} | ${mode} | ${round(r.meanDegree, 1)} / ${r.diameter} | ${round(mean(hopsMax), 1)} (mean ${round(mean(hopsMean), 1)})${mode === 'procs' ? ' graph' : ''} | ${round(modelD, 2)} (${round(modelDeg, 2)}) | ${p50} | ${p99} | ${fit} |`
  return { fig, row }
}

export async function scaleBench (baseline: Map<string, number>): Promise<Figure[]> {
  const figures: Figure[] = []
  const rows: string[] = []
  for (const n of SIZES) {
    for (const mode of ['procs', 'inproc'] as const) {
      if (!MODES.includes(mode) || (mode === 'procs' && n > PROCS_MAX)) continue
      process.stderr.write(`bench: scale: ${n} domains (${mode}), ${WRITES} writes …\n`)
      let r: ScaleResult
      try {
        r = mode === 'inproc' ? await runInProcess(n) : await runProcesses(n)
      } catch (err) {
        // One size failing (e.g. a port taken by another process meanwhile) does not lose the others.
        process.stderr.write(`bench: scale ${n} (${mode}) FAILED: ${(err as Error).message.split('\n')[0]}\n`)
        figures.push({ name: mode === 'inproc' ? `scale.convergence.n${n}` : `scale.convergence.procs.n${n}`, value: 0, unit: 'ms', failed: true, error: (err as Error).message.split('\n')[0] })
        continue
      }
      const { fig, row } = figureOf(mode, r, baseline)
      figures.push(fig)
      rows.push(row)
      process.stderr.write(`bench:   ${JSON.stringify(fig)}\n`)
    }
  }
  process.stderr.write([
    'bench: scale table',
    '| N | mode | mean degree / diameter | hops: max (mean) | model log N / log 6 (log N / log mean degree) | p50 ms | p99 ms | p50 arrival by hops, ms |',
    '|---|---|---|---|---|---|---|---|',
    ...rows
  ].join('\n') + '\n')
  return figures
}

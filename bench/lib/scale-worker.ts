/**
 * One scale run, in its own process: N ContinuumNode instances in this process (as
 * test/helpers/index.ts builds them: buildConfig + new ContinuumNode, silent logger), LevelDB in
 * `root`, libp2p on 127.0.0.1, in a sparse topology where node i bootstraps to 2–3 random nodes
 * among 0..i-1 (seeded, degree capped: bench/lib/topology.ts; `mesh.connectToMembers: false`). It then creates one entity at a time
 * through a node's REST API (writers rotate) and records, per node, when the change is committed
 * there (the store's 'change' event: readable through its API from then on) and from which peer
 * gossipsub delivered it (`gossipsub:message` propagationSource), which gives the hops taken.
 *
 * It also records when gossipsub handed the change to each node (after validation), which splits
 * the time into: write at the writer (HTTP + commit), first hop, relays, and apply at each node.
 *
 * Parent → child: {cmd: 'run', n, writes, seconds?, root, seed, gapMs, config?, line?} | {cmd: 'stop'}
 * (`config` is merged over the node config, for what-if runs; `line: true` chains the nodes
 * 0–1–…–N-1 instead of the sparse random graph.)
 * Child → parent: {evt: 'result', ...} | {evt: 'error', message}
 */
import { join } from 'node:path'
import { pino } from 'pino'
import { buildConfig } from '../../src/config/index.ts'
import { ContinuumNode } from '../../src/node.ts'
import { loadOrCreateDomainKey } from '../../identity/index.ts'
import { entitiesTopic } from '../../mesh/index.ts'
import { freePorts } from './federation.ts'
import { bfs, graphStats, lineTopology, sparseTopology } from './topology.ts'

const FEDERATION = 'scale'
const send = (m: unknown): void => { process.send?.(m) }
/** In results, -1 stands for "not by gossip" (hops) and "not received by gossip" (recv). */
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const nodes: ContinuumNode[] = []

interface RunMsg { n: number, writes: number, seconds?: number, root: string, seed: number, gapMs: number, config?: Record<string, Record<string, unknown>>, line?: boolean }

async function run (msg: RunMsg): Promise<void> {
  const { n, writes, root, seed, gapMs } = msg
  const extra = msg.config ?? {}
  const ports = await freePorts(2 * n)
  const prepared = await Promise.all(Array.from({ length: n }, async (_, i) => {
    const dataDir = join(root, `d${i}`)
    const key = await loadOrCreateDomainKey(dataDir)
    const meshPort = ports[2 * i]
    const peerId = key.peerId.toString()
    return { name: `d${i}`, dataDir, peerId, meshPort, apiPort: ports[2 * i + 1], addr: `/ip4/127.0.0.1/tcp/${meshPort}/p2p/${peerId}` }
  }))
  const topo = msg.line === true ? lineTopology(n) : sparseTopology(n, seed)
  const members = prepared.map(p => p.peerId)
  for (let i = 0; i < n; i++) {
    const p = prepared[i]
    nodes.push(new ContinuumNode(buildConfig({
      ...extra,
      domain: { name: p.name, fqdn: `${p.name}.scale.local` },
      dataDir: p.dataDir,
      api: { host: '127.0.0.1', port: p.apiPort },
      mesh: { ...extra.mesh, listen: [`/ip4/127.0.0.1/tcp/${p.meshPort}`], bootstrap: topo[i].map(j => prepared[j].addr), connectToMembers: false },
      federation: { name: FEDERATION, members },
      auth: { mode: 'disabled' },
      log: { level: 'silent', format: 'json' }
    }), { logger: pino({ level: 'silent' }) }))
  }
  const t0 = performance.now()
  await Promise.all(nodes.map(async node => { await node.start() }))
  const startedMs = performance.now() - t0
  const deadline = Date.now() + 120_000
  while (!nodes.every(node => node.mesh.membership.table().filter(m => m.state === 'alive').length === n)) {
    if (Date.now() > deadline) throw new Error('the federation did not form within 120 s')
    await sleep(100)
  }
  const formedMs = performance.now() - t0

  // The connection graph as it is (bootstrap links, both directions).
  const index = new Map(prepared.map((p, i) => [p.peerId, i]))
  const adj = nodes.map(() => new Set<number>())
  nodes.forEach((node, i) => {
    for (const c of node.mesh.libp2p.getConnections()) {
      const j = index.get(c.remotePeer.toString())
      if (j != null) { adj[i].add(j); adj[j].add(i) }
    }
  })

  // Per entity id: when each node committed it, and which peer handed it over.
  const arrivals = new Map<string, { t0: number, at: number[], recv: number[], from: Array<number | undefined>, writer: number }>()
  const topic = entitiesTopic(FEDERATION)
  nodes.forEach((node, i) => {
    node.ngsi.store.events.addEventListener('change', (evt) => {
      const a = arrivals.get(evt.detail.change.id)
      if (a != null && a.at[i] === 0) a.at[i] = performance.now()
    })
    node.mesh.libp2p.services.pubsub.addEventListener('gossipsub:message', (evt) => {
      const { msg, propagationSource } = evt.detail
      if (msg.topic !== topic) return
      try {
        const body = JSON.parse(new TextDecoder().decode(msg.data)) as { e: Array<{ d: string }> }
        for (const e of body.e) {
          for (const ch of (JSON.parse(e.d) as { c: Array<{ id: string }> }).c) {
            const a = arrivals.get(ch.id)
            if (a != null && a.from[i] == null) { a.from[i] = index.get(propagationSource.toString()); a.recv[i] = performance.now() }
          }
        }
      } catch { /* not a batch of changes */ }
    })
  })

  const write = async (w: number, tag: string): Promise<{ writer: number, convergence: number, perNode: number[], recv: number[], from: number[], hops: number[], bfs: number[] }> => {
    const writer = w % n
    const id = `urn:ngsi-ld:Probe:${tag}-${w}`
    const rec = { t0: performance.now(), at: nodes.map(() => 0), recv: nodes.map(() => -1), from: nodes.map(() => undefined as number | undefined), writer }
    arrivals.set(id, rec)
    const res = await fetch(`${nodes[writer].apiUrl}/ngsi-ld/v1/entities`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id, type: 'Probe', w: { type: 'Property', value: w } })
    })
    if (res.status !== 201) throw new Error(`create at d${writer} → ${res.status}: ${await res.text()}`)
    const until = Date.now() + 30_000
    while (rec.at.some(t => t === 0)) {
      if (Date.now() > until) throw new Error(`write ${id} reached ${rec.at.filter(t => t > 0).length} of ${n} nodes in 30 s`)
      await sleep(1)
    }
    arrivals.delete(id)
    const hopsOf = (i: number, seen = 0): number => {
      if (i === writer) return 0
      const f = rec.from[i]
      if (f == null || seen > n) return -1 // not by gossip (anti-entropy)
      const h = hopsOf(f, seen + 1)
      return h < 0 ? -1 : h + 1
    }
    return {
      writer,
      convergence: Math.max(...rec.at) - rec.t0,
      perNode: rec.at.map(t => t - rec.t0),
      recv: rec.recv.map(t => t < 0 ? -1 : t - rec.t0),
      from: rec.from.map(f => f ?? -1),
      hops: nodes.map((_, i) => hopsOf(i)),
      bfs: bfs(adj, writer)
    }
  }

  // Warm up (gossipsub grafts its mesh on its 1 s heartbeat), then measure.
  await sleep(2000)
  for (let w = 0; w < Math.min(n, 5); w++) await write(w, 'warmup')
  const results = []
  const stopAt = performance.now() + (msg.seconds ?? Infinity) * 1000
  for (let w = 0; w < writes && performance.now() < stopAt; w++) {
    results.push(await write(w, 'probe'))
    await sleep(gapMs)
  }
  send({
    evt: 'result',
    n,
    startedMs,
    formedMs,
    ...graphStats(adj),
    results,
    rssBytes: process.memoryUsage().rss
  })
}

process.on('message', (msg: { cmd: string } & Record<string, any>) => {
  void (async () => {
    if (msg.cmd === 'run') await run(msg as unknown as RunMsg)
    if (msg.cmd === 'stop') {
      await Promise.allSettled(nodes.map(async node => { await node.stop() }))
      process.exit(0)
    }
  })().catch(async (err: Error) => {
    send({ evt: 'error', message: err.stack ?? err.message })
    await Promise.allSettled(nodes.map(async node => { await node.stop() }))
    process.exit(1)
  })
})
// The parent is gone (killed, or exited without stopping us): stop the nodes and leave.
process.on('disconnect', () => {
  void Promise.allSettled(nodes.map(async node => { await node.stop() })).then(() => process.exit(0))
})
send({ evt: 'ready' })

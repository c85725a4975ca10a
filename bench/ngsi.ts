/**
 * Single-domain NGSI-LD broker figures (issue 3), each beside a baseline measured in the same run:
 * a raw fastify route (HTTP floor) and raw LevelDB puts (storage floor). The node runs as its own
 * process (the real CLI); autocannon drives it from this process.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { Level } from 'level'
import type { Figure } from './gossip-baseline.ts'
import { postAll } from './lib/federation.ts'
import { rssOf, startNodeProcess } from './lib/node-proc.ts'
import { round } from './lib/procs.ts'
import { thingBatches } from './lib/bodies.ts'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const QUERY_ENTITIES = Number(process.env.BENCH_QUERY_ENTITIES ?? 100_000)

interface Run { rps: number, p50: number, p99: number, errors: number, non2xx: number }

const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 2)

/**
 * Measures `opts` for SECONDS after WARMUP_SECONDS of the same load (not counted): a node's first
 * seconds under a new load run code V8 has not optimised yet (the first 5 s of creates on a fresh
 * node came out at 2,800–5,700 req/s, the next 5 s at 5,900–6,500 on the same node).
 */
async function cannon (opts: autocannon.Options): Promise<Run> {
  if (WARMUP_SECONDS > 0) await autocannon({ duration: WARMUP_SECONDS, connections: 32, ...opts })
  const r = await autocannon({ duration: SECONDS, connections: 32, ...opts })
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors, non2xx: r.non2xx }
}

async function rawFastify (): Promise<Run> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/lib/raw-fastify.ts'], { stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await new Promise<number>(resolve => child.stdout.once('data', (d: Buffer) => { resolve(Number(String(d).trim())) }))
  try {
    return await cannon({ url: `http://127.0.0.1:${port}/raw` })
  } finally {
    child.kill('SIGTERM')
  }
}

async function rawLevel (): Promise<{ putsPerS: number, batchedPerS: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'cmesh-bench-level-'))
  const db = new Level<string, string>(dir, { valueEncoding: 'utf8' })
  await db.open()
  const value = JSON.stringify({ id: 'urn:ngsi-ld:Room:1', type: 'Room', temperature: { v: 21.5 } }).repeat(3)
  const n = 20_000
  let t = performance.now()
  for (let i = 0; i < n; i++) await db.put(`k${i}`, value, { sync: true })
  const putsPerS = n / ((performance.now() - t) / 1000)
  t = performance.now()
  for (let b = 0; b < 100; b++) {
    await db.batch(Array.from({ length: 1000 }, (_, i) => ({ type: 'put' as const, key: `b${b}-${i}`, value })), { sync: true })
  }
  const batchedPerS = 100_000 / ((performance.now() - t) / 1000)
  await db.close()
  await rm(dir, { recursive: true, force: true })
  return { putsPerS, batchedPerS }
}

function room (i: number, prefix = 'Room'): Record<string, unknown> {
  return {
    id: `urn:ngsi-ld:${prefix}:${i}`,
    type: prefix,
    temperature: { type: 'Property', value: 20 + (i % 10), unitCode: 'CEL' },
    name: { type: 'Property', value: `room ${i}` },
    location: { type: 'GeoProperty', value: { type: 'Point', coordinates: [2.17, 41.38] } }
  }
}

export async function ngsiBench (): Promise<Figure[]> {
  const figures: Figure[] = []
  const machine = '2-core VM, autocannon in the same machine'
  const raw = await rawFastify()
  figures.push({ name: 'http.raw_fastify.get', value: Math.round(raw.rps), unit: 'req/s', p99_ms: raw.p99, note: machine })
  const lvl = await rawLevel()
  figures.push({ name: 'leveldb.raw.put_sync', value: Math.round(lvl.putsPerS), unit: 'puts/s', sync: true })
  figures.push({ name: 'leveldb.raw.batch1000_sync', value: Math.round(lvl.batchedPerS), unit: 'puts/s', sync: true })

  const node = await startNodeProcess({ domain: { name: 'bench' }, ngsi: { cacheSize: 200_000, maxLimit: 1000 } })
  try {
    // Create: every request a new entity, durable (fsynced group commit) before the 201.
    let n = 0
    const create = await cannon({
      url: `${node.url}/ngsi-ld/v1/entities`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      requests: [{ setupRequest: (req) => ({ ...req, body: JSON.stringify(room(n++)) }) }]
    })
    figures.push({ name: 'ngsi.create', value: Math.round(create.rps), unit: 'req/s', p50_ms: create.p50, p99_ms: create.p99, non2xx: create.non2xx, goal: 5000, ratio_to_raw_level_put: round(create.rps / lvl.putsPerS, 3), ratio_to_raw_http: round(create.rps / raw.rps, 3) })

    const get = await cannon({ url: `${node.url}/ngsi-ld/v1/entities/urn:ngsi-ld:Room:1` })
    figures.push({ name: 'ngsi.retrieve', value: Math.round(get.rps), unit: 'req/s', p50_ms: get.p50, p99_ms: get.p99, non2xx: get.non2xx, goal: 25000, ratio_to_raw_http: round(get.rps / raw.rps, 3) })

    // Batch upsert, 1000 entities per request (bodies prepared beforehand).
    const bodies = thingBatches(QUERY_ENTITIES, 1000)
    // Two clients, each sending its next body once the last is answered. (autocannon with
    // `amount` resolves on its once-a-second sampling tick: the time came out in whole seconds.)
    const t0 = performance.now()
    await postAll(`${node.url}/ngsi-ld/v1/entityOperations/upsert`, bodies, 2, [201, 204])
    const seconds = (performance.now() - t0) / 1000
    const perS = QUERY_ENTITIES / seconds
    figures.push({ name: 'ngsi.batch_upsert', value: Math.round(perS), unit: 'entities/s', batch: 1000, requests: bodies.length, seconds: round(seconds, 2), goal: 50000, ratio_to_raw_level_batch: round(perS / lvl.batchedPerS, 3) })

    // Selective query over QUERY_ENTITIES entities: one type of ten, q matching half of it, page of 20.
    const q = encodeURIComponent('level>500;brand=="b3"')
    const query = await cannon({ url: `${node.url}/ngsi-ld/v1/entities?type=T3&q=${q}&limit=20`, connections: 16 })
    figures.push({ name: 'ngsi.query_selective', value: Math.round(query.rps), unit: 'queries/s', entities: QUERY_ENTITIES, p50_ms: query.p50, p99_ms: query.p99, non2xx: query.non2xx, goal: 1000, ratio_to_raw_http: round(query.rps / raw.rps, 3) })
    const counted = await cannon({ url: `${node.url}/ngsi-ld/v1/entities?type=T3&q=${q}&limit=20&count=true`, connections: 4 })
    figures.push({ name: 'ngsi.query_selective_count', value: Math.round(counted.rps), unit: 'queries/s', entities: QUERY_ENTITIES, p50_ms: counted.p50, p99_ms: counted.p99, note: 'count=true evaluates every entity of the type' })
    figures.push({ name: 'ngsi.rss', value: Math.round(await rssOf(node.pid) / 1024 / 1024), unit: 'MiB', entities: QUERY_ENTITIES + n })
  } finally {
    await node.stop()
  }
  return figures
}

/**
 * The floor under the ingest goals, measured on this machine without any Continuum Mesh code: the
 * least work a batch upsert and a catch-up must do per entity with the storage this project uses
 * (one JSON record per entity and a signed change log in LevelDB), done as plainly as possible.
 *
 * - write: JSON.parse a 1,000-entity body; per entity a change and a record (the shapes of
 *   src/ngsi/store/crdt.ts, names expanded by prefixing one IRI); serialise the record, and the
 *   changes once into one envelope; sign it (Ed25519); one LevelDB batch (records + envelope)
 *   with sync. Two batches in flight, as the bench's two clients.
 * - apply: the envelopes the write run made, as a catching-up domain receives them: verify the
 *   signature, JSON.parse, a record per change (into an empty store: no read, no merge),
 *   serialise, one LevelDB batch (records + the envelope's bytes) without sync. Two in flight.
 * - merge: the next version of the same entities applied to a store that holds them (a domain
 *   that was down): one getMany per envelope, parse each record, set the registers, write back.
 * - LevelDB alone: the same record values in batches of 1,000.
 * - log only (the layout a store redesign would use): records live in memory (a Map of parsed
 *   records, checkpointed in the background, which is left out), and only the signed envelope is
 *   written per batch. write: parse, change, set the registers of the in-memory record, serialise
 *   the changes into the envelope, sign, one LevelDB put (sync). merge: verify, parse, set the
 *   registers of records already in memory, one LevelDB put (no sync). Also the heap those
 *   records take (after a forced GC), the memory such a layout costs.
 *
 * Left out, and done by the real node: HTTP, @context expansion, validation, the write policy
 * and roles, reading and merging the current record, the parsed entity clients see, indexes,
 * subscriptions, gossip, and the network. Each run starts on an empty database; the best of
 * RUNS is kept (a floor is the best case). Prints one JSON line per figure.
 */
import { generateKeyPairSync, sign, verify } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import { thingBatches } from './bodies.ts'

const ENTITIES = Number(process.env.BENCH_FLOOR_ENTITIES ?? 100_000)
const RUNS = Number(process.env.BENCH_FLOOR_RUNS ?? 3)
const BATCH = 1000
const VOCAB = 'https://uri.etsi.org/ngsi-ld/default-context/'
const CORE = 'https://uri.etsi.org/ngsi-ld/'
const ORIGIN = 'domain-a'

interface Result { perS: number, cpuUsPerItem: number, seconds: number }

const { privateKey, publicKey } = generateKeyPairSync('ed25519')


function iri (name: string): string {
  return name === 'location' ? CORE + name : VOCAB + name
}

type AttrWrite = [string, string, unknown]
interface Change { id: string, o: string, n: number, h: string, c?: 1, t?: string[], a?: AttrWrite[] }

function recordOf (ch: Change): Record<string, unknown> {
  const attrs: Record<string, unknown> = {}
  for (const [name, inst, v] of ch.a ?? []) attrs[name] = { [inst]: { h: ch.h, o: ch.o, v } }
  return { id: ch.id, created: { h: ch.h, o: ch.o }, types: { h: ch.h, o: ch.o, v: ch.t }, attrs }
}

async function withDb<T> (fn: (db: Level<string, string>) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'cmesh-floor-'))
  const db = new Level<string, string>(dir, { valueEncoding: 'utf8' })
  await db.open()
  try {
    return await fn(db)
  } finally {
    await db.close()
    await rm(dir, { recursive: true, force: true })
  }
}

/** Runs `work` over `items` with two in flight; returns rate and CPU (all threads) per item. */
async function timed<I> (items: I[], perItem: number, work: (item: I, index: number) => Promise<void>): Promise<Result> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      await work(items[i], i)
    }
  }
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  await Promise.all([worker(), worker()])
  const seconds = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  const n = items.length * perItem
  return { perS: n / seconds, cpuUsPerItem: (cpu.user + cpu.system) / n, seconds }
}

interface Written { envelopes: Array<{ d: Buffer, s: Buffer }>, recordBytes: number }

/**
 * The common part of a write: parse a body, a change per entity (handed to `each`), the changes
 * serialised once into one envelope, signed.
 */
function signedBatch (body: string, b: number, h: string, each: (ch: Change) => void): { n: number, d: Buffer, s: Buffer } {
  const items = JSON.parse(body) as Array<Record<string, any>>
  const parts: string[] = []
  let n = b * BATCH
  for (const e of items) {
    const a: AttrWrite[] = []
    for (const k of Object.keys(e)) if (k !== 'id' && k !== 'type') a.push([iri(k), '@none', e[k]])
    const ch: Change = { id: e.id, o: ORIGIN, n: ++n, h, c: 1, t: [VOCAB + String(e.type)], a }
    each(ch)
    parts.push(JSON.stringify(ch))
  }
  const d = Buffer.from(`{"o":"${ORIGIN}","p":"peer","f":${b * BATCH + 1},"t":${n},"c":[${parts.join(',')}]}`)
  return { n, d, s: sign(null, d, privateKey) }
}

async function writeRun (input: string[]): Promise<Result & Written> {
  const envelopes: Array<{ d: Buffer, s: Buffer }> = new Array(input.length)
  let recordBytes = 0
  const h = `${Date.now().toString(16).padStart(12, '0')}.0000`
  const r = await withDb(async db => await timed(input, BATCH, async (body, b) => {
    const ops: Array<{ type: 'put', key: string, value: string | Buffer, valueEncoding?: string }> = []
    const { n, d, s } = signedBatch(body, b, h, ch => {
      const rec = JSON.stringify(recordOf(ch))
      recordBytes += rec.length
      ops.push({ type: 'put', key: `e!${ch.id}`, value: rec })
    })
    envelopes[b] = { d, s }
    ops.push({ type: 'put', key: `l!${String(n).padStart(12, '0')}`, value: Buffer.concat([s, d]), valueEncoding: 'buffer' })
    await db.batch(ops as any, { sync: true })
  }))
  return { ...r, envelopes, recordBytes: recordBytes / ENTITIES }
}

async function applyRun (envelopes: Array<{ d: Buffer, s: Buffer }>): Promise<Result> {
  return await withDb(async db => await timed(envelopes, BATCH, async ({ d, s }) => {
    if (!verify(null, d, publicKey, s)) throw new Error('bad signature')
    const env = JSON.parse(d.toString('utf8')) as { t: number, c: Change[] }
    const ops: Array<{ type: 'put', key: string, value: string | Buffer, valueEncoding?: string }> = []
    for (const ch of env.c) ops.push({ type: 'put', key: `e!${ch.id}`, value: JSON.stringify(recordOf(ch)) })
    ops.push({ type: 'put', key: `l!${String(env.t).padStart(12, '0')}`, value: Buffer.concat([s, d]), valueEncoding: 'buffer' })
    await db.batch(ops as any, { sync: false })
  }))
}

/**
 * The same envelopes applied to a store that already holds every entity (a domain that was down
 * while they were written): each envelope reads its records (one getMany), parses them, sets the
 * registers the changes write, serialises and writes them back.
 */
async function mergeRun (first: Array<{ d: Buffer, s: Buffer }>, again: Array<{ d: Buffer, s: Buffer }>): Promise<Result> {
  return await withDb(async db => {
    const apply = async ({ d, s }: { d: Buffer, s: Buffer }, merge: boolean): Promise<void> => {
      if (!verify(null, d, publicKey, s)) throw new Error('bad signature')
      const env = JSON.parse(d.toString('utf8')) as { t: number, c: Change[] }
      const current = merge ? await db.getMany(env.c.map(ch => `e!${ch.id}`)) : []
      const ops: Array<{ type: 'put', key: string, value: string | Buffer, valueEncoding?: string }> = []
      env.c.forEach((ch, i) => {
        const raw = current[i]
        let rec: Record<string, any>
        if (raw == null) rec = recordOf(ch)
        else {
          rec = JSON.parse(raw)
          for (const [name, inst, v] of ch.a ?? []) (rec.attrs[name] ??= {})[inst] = { h: ch.h, o: ch.o, v }
        }
        ops.push({ type: 'put', key: `e!${ch.id}`, value: JSON.stringify(rec) })
      })
      ops.push({ type: 'put', key: `l!${String(env.t).padStart(12, '0')}`, value: Buffer.concat([s, d]), valueEncoding: 'buffer' })
      await db.batch(ops as any, { sync: false })
    }
    for (const e of first) await apply(e, false)
    return await timed(again, BATCH, async (e) => { await apply(e, true) })
  })
}

async function levelRun (values: string[][], sync: boolean): Promise<Result> {
  return await withDb(async db => await timed(values, BATCH, async (batch, b) => {
    await db.batch(batch.map((value, i) => ({ type: 'put' as const, key: `e!${b}-${i}`, value })), { sync })
  }))
}

/** Sets the registers a change writes on an in-memory record (created if absent). */
function mergeInto (records: Map<string, Record<string, any>>, ch: Change): void {
  const rec = records.get(ch.id)
  if (rec == null) { records.set(ch.id, recordOf(ch)); return }
  for (const [name, inst, v] of ch.a ?? []) (rec.attrs[name] ??= {})[inst] = { h: ch.h, o: ch.o, v }
}

/** Log only, write side: records in memory, only the signed envelope goes to LevelDB (sync). */
async function logOnlyWriteRun (input: string[]): Promise<Result & { heapMiB: number }> {
  const records = new Map<string, Record<string, any>>()
  const h = `${Date.now().toString(16).padStart(12, '0')}.0000`
  const heap0 = heapUsed()
  const r = await withDb(async db => await timed(input, BATCH, async (body, b) => {
    const { n, d, s } = signedBatch(body, b, h, ch => { mergeInto(records, ch) })
    await db.put(`l!${String(n).padStart(12, '0')}`, Buffer.concat([s, d]) as any, { sync: true, valueEncoding: 'buffer' } as any)
  }))
  const heapMiB = (heapUsed() - heap0) / 2 ** 20
  records.clear()
  return { ...r, heapMiB }
}

/** Log only, catch-up of a domain that was down: every record in memory already, merge, write the envelope. */
async function logOnlyMergeRun (first: Array<{ d: Buffer, s: Buffer }>, again: Array<{ d: Buffer, s: Buffer }>): Promise<Result> {
  const records = new Map<string, Record<string, any>>()
  for (const { d } of first) for (const ch of (JSON.parse(d.toString('utf8')) as { c: Change[] }).c) mergeInto(records, ch)
  return await withDb(async db => await timed(again, BATCH, async ({ d, s }) => {
    if (!verify(null, d, publicKey, s)) throw new Error('bad signature')
    const env = JSON.parse(d.toString('utf8')) as { t: number, c: Change[] }
    for (const ch of env.c) mergeInto(records, ch)
    await db.put(`l!${String(env.t).padStart(12, '0')}`, Buffer.concat([s, d]) as any, { sync: false, valueEncoding: 'buffer' } as any)
  }))
}

/** Heap in use after a full GC (needs --expose-gc; 0 without it). */
function heapUsed (): number {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc == null) return 0
  gc()
  return process.memoryUsage().heapUsed
}

function best (rs: Result[]): Result {
  return rs.reduce((a, b) => b.perS > a.perS ? b : a)
}

// The ngsi bench's batch-upsert bodies: 1,000 entities of three attributes each.
const input = thingBatches(ENTITIES, BATCH)
const writes: Array<Result & Written> = []
for (let i = 0; i < RUNS; i++) writes.push(await writeRun(input))
const applies: Result[] = []
for (let i = 0; i < RUNS; i++) applies.push(await applyRun(writes[0].envelopes))
// The second run's envelopes carry the same entities' next version (same ids, later sequence numbers).
const merges: Result[] = []
for (let i = 0; i < RUNS; i++) merges.push(await mergeRun(writes[0].envelopes, writes[1 % RUNS].envelopes))
// LevelDB alone, with record-sized values (as the write run serialised them).
const sample = JSON.stringify(recordOf({ id: 'urn:ngsi-ld:Thing:0000000', o: ORIGIN, n: 1, h: 'x'.repeat(17), t: [VOCAB + 'T0'], a: [[VOCAB + 'level', '@none', { type: 'Property', value: 0 }], [VOCAB + 'brand', '@none', { type: 'Property', value: 'b0' }], [CORE + 'location', '@none', { type: 'GeoProperty', value: { type: 'Point', coordinates: [2.01, 41.01] } }]] }))
const values = Array.from({ length: ENTITIES / BATCH }, (_, b) => Array.from({ length: BATCH }, (_, i) => sample.slice(0, -2) + String(b * BATCH + i) + '"}'))
const levelAsync: Result[] = []
const levelSync: Result[] = []
for (let i = 0; i < RUNS; i++) {
  levelAsync.push(await levelRun(values, false))
  levelSync.push(await levelRun(values, true))
}

const logWrites: Array<Result & { heapMiB: number }> = []
for (let i = 0; i < RUNS; i++) logWrites.push(await logOnlyWriteRun(input))
const logMerges: Result[] = []
for (let i = 0; i < RUNS; i++) logMerges.push(await logOnlyMergeRun(writes[0].envelopes, writes[1 % RUNS].envelopes))

const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d
const line = (name: string, rs: Result[], extra: Record<string, unknown>): void => {
  const b = best(rs)
  process.stdout.write(JSON.stringify({ name, value: Math.round(b.perS), cpu_us_per_item: round(b.cpuUsPerItem), runs: rs.map(r => Math.round(r.perS)), ...extra }) + '\n')
}
const w = best(writes)
const a = best(applies)
line('floor.batch_upsert', writes, { unit: 'entities/s', goal: 50_000, record_bytes: Math.round(writes[0].recordBytes), sync: true, note: 'parse, change + record, serialise, sign, one LevelDB batch per 1,000 (sync); no HTTP, expansion, policy, merge, views, indexes, gossip' })
line('floor.catchup_apply', applies, { unit: 'changes/s', goal: 50_000, sync: false, note: 'verify, parse, record per change into an empty store, serialise, one LevelDB batch per 1,000; no network, read, merge, views, indexes, subscriptions' })
line('floor.catchup_merge', merges, { unit: 'changes/s', goal: 50_000, sync: false, note: 'as catchup_apply, into a store already holding every entity: read (one getMany per 1,000), parse, set registers, serialise, write' })
line('floor.leveldb.records', levelAsync, { unit: 'puts/s', value_bytes: sample.length, batch: BATCH, sync: false })
line('floor.leveldb.records_sync', levelSync, { unit: 'puts/s', value_bytes: sample.length, batch: BATCH, sync: true })
line('floor.log_only.batch_upsert', logWrites, { unit: 'entities/s', goal: 50_000, sync: true, records_heap_mib: Math.round(logWrites[0].heapMiB), note: 'records in memory (checkpoints left out), only the signed envelope written: parse, change, in-memory merge, serialise, sign, one LevelDB put per 1,000 (sync)' })
line('floor.log_only.catchup_merge', logMerges, { unit: 'changes/s', goal: 50_000, sync: false, note: 'records in memory already: verify, parse, in-memory merge, one LevelDB put per 1,000' })
// Three domains on two cores: each update is written once (A) and applied twice (B, C).
process.stdout.write(JSON.stringify({
  name: 'floor.replication_three_domains_bound',
  value: Math.round(2e6 / (w.cpuUsPerItem + 2 * best(merges).cpuUsPerItem)),
  unit: 'updates/s',
  goal: 10_000,
  model: '2 cores × 1e6 / (write CPU µs + 2 × merge CPU µs), perfect overlap, nothing else running'
}) + '\n')
process.stdout.write(JSON.stringify({
  name: 'floor.log_only.replication_three_domains_bound',
  value: Math.round(2e6 / (best(logWrites).cpuUsPerItem + 2 * best(logMerges).cpuUsPerItem)),
  unit: 'updates/s',
  goal: 10_000,
  model: 'as floor.replication_three_domains_bound, with the log-only figures'
}) + '\n')

import { strict as assert } from 'node:assert'
import { join } from 'node:path'
import { Level } from 'level'
import { pino } from 'pino'
import { EntityStore, DEFAULT_INSTANCE, type Change } from '../../../src/ngsi/store/index.ts'
import type { Entity } from '../../../src/ngsi/types.ts'
import { cleanup, tempDir } from '../../helpers/index.ts'

const T = 'https://example.org/Room'
const U = 'https://example.org/Car'
const temp = 'https://example.org/temperature'
const prop = (value: unknown) => ({ type: 'Property' as const, value })

async function open (dir: string, domain = 'domain-a') {
  const db = new Level<string, string>(join(dir, 'db'), { valueEncoding: 'utf8' })
  await db.open()
  const store = new EntityStore({ db, log: pino({ level: 'silent' }) }, { domain, cacheSize: 10 })
  await store.start()
  return { db, store }
}

async function all (it: AsyncIterable<Entity[]>): Promise<string[]> {
  const out: string[] = []
  for await (const chunk of it) for (const e of chunk) out.push(e.id)
  return out
}

describe('ngsi store: LevelDB entity store', () => {
  after(cleanup)

  it('writes, indexes, scans in id order and keeps everything across a restart', async () => {
    const dir = await tempDir()
    let { db, store } = await open(dir)
    for (let i = 29; i >= 0; i--) {
      const id = `urn:ngsi-ld:Room:${String(i).padStart(3, '0')}`
      await store.mutate(id, cur => cur == null ? { create: true, types: [i % 3 === 0 ? U : T], attrs: i % 2 === 0 ? [[temp, DEFAULT_INSTANCE, prop(i)]] : [] } : null)
    }
    await store.mutate('urn:ngsi-ld:Room:005', () => ({ deleteEntity: true }))
    const rooms = await all(store.scan({ types: [T] }))
    assert.equal(rooms.length, 19)
    assert.deepEqual(rooms, [...rooms].sort())
    assert.ok(!rooms.includes('urn:ngsi-ld:Room:005'))
    assert.equal((await all(store.scan({ attr: temp }))).length, 15)
    assert.deepEqual(await all(store.scan({ idPrefix: 'urn:ngsi-ld:Room:01' })), Array.from({ length: 10 }, (_, i) => `urn:ngsi-ld:Room:01${i}`))
    assert.equal(store.index.types.get(U)?.entities, 10)
    const vv = store.versionVector()
    await store.stop()
    await db.close()

    ;({ db, store } = await open(dir))
    assert.deepEqual(store.versionVector(), vv)
    assert.equal(store.index.total, 29)
    assert.equal((await store.get('urn:ngsi-ld:Room:004'))?.attrs[temp][0].value, 4)
    assert.equal(await store.get('urn:ngsi-ld:Room:005'), null)
    // New local writes continue the sequence, with later stamps.
    const r = await store.mutate('urn:ngsi-ld:Room:004', () => ({ attrs: [[temp, DEFAULT_INSTANCE, prop(40)]] }))
    assert.equal(r.change?.n, (vv['domain-a'] ?? 0) + 1)
    const [last] = await store.logSince('domain-a', vv['domain-a'] ?? 0, 10)
    assert.equal((JSON.parse(last.d) as { f: number }).f, r.change?.n, 'each local write is logged as an envelope')
    await db.close()
  })

  it('reads back every record across several read chunks (start-up, snapshot pages, compaction)', async () => {
    const dir = await tempDir()
    let { db, store } = await open(dir)
    const n = 2_345 // more than two chunks of records read from LevelDB at a time
    const ids = Array.from({ length: n }, (_, i) => `urn:ngsi-ld:Room:${String(i).padStart(5, '0')}`)
    await store.mutateMany(ids, (cur, id) => ({ create: true, types: [T], attrs: [[temp, DEFAULT_INSTANCE, prop(Number(id.slice(-5)))]] }))
    await store.stop()
    await db.close()

    ;({ db, store } = await open(dir))
    assert.equal(store.index.total, n)
    assert.equal(store.index.types.get(T)?.entities, n)
    assert.equal((await store.get(ids[n - 1]))?.attrs[temp][0].value, n - 1)
    const paged: string[] = []
    for (let after: string | null = null, pages = 0; ; pages++) {
      const page = await store.snapshotPage(after, 1_500)
      paged.push(...page.records.map(r => r.id))
      assert.ok(page.records.length <= 1_500)
      if (page.next == null) break
      after = page.next
      assert.ok(pages < 5)
    }
    assert.deepEqual(paged, ids)
    // Compaction scans every record too: no tombstones here, so no record changes.
    const compacted = await store.compact('9999999999999999-00000')
    assert.equal(compacted.records, 0)
    assert.ok(compacted.envelopes >= 1)
    assert.equal(store.index.total, n)
    await db.close()
  })

  it('a read of an entity not in memory that races a write to it never leaves the older version cached', async () => {
    const dir = await tempDir()
    const db = new Level<string, string>(join(dir, 'db'), { valueEncoding: 'utf8' })
    await db.open()
    // One entity held parsed, one record: the entity is read from LevelDB once the other is written.
    const store = new EntityStore({ db, log: pino({ level: 'silent' }) }, { domain: 'domain-a', cacheSize: 1, recordCacheSize: 1 })
    await store.start()
    const x = 'urn:ngsi-ld:Room:x'
    await store.mutate(x, () => ({ create: true, types: [T], attrs: [[temp, DEFAULT_INSTANCE, prop(1)]] }))
    await store.mutate('urn:ngsi-ld:Room:y', () => ({ create: true, types: [T] }))
    // The next LevelDB read returns what it read only once `release` is called: a read that
    // started before the write and ends after it.
    const getMany = db.getMany.bind(db)
    let release!: () => void
    const held = new Promise<void>(resolve => { release = resolve })
    let hold = true
    ;(db as unknown as { getMany: typeof db.getMany }).getMany = (async (keys: string[], opts?: unknown) => {
      const gated = hold
      hold = false
      const values = await getMany(keys, opts as never)
      if (gated) await held
      return values
    }) as unknown as typeof db.getMany
    const reading = store.get(x)
    await new Promise(resolve => setTimeout(resolve, 20))
    const writing = store.mutate(x, () => ({ attrs: [[temp, DEFAULT_INSTANCE, prop(2)]] }))
    await new Promise(resolve => setTimeout(resolve, 20))
    release()
    await Promise.all([reading, writing])
    assert.equal((await store.get(x))?.attrs[temp][0].value, 2, 'the write is what a read sees afterwards')
    assert.equal((await store.getMany([x])).get(x)?.attrs[temp][0].value, 2)
    await db.close()
  })

  it('applies remote changes once, in any order, and tracks a gap-free watermark', async () => {
    const dir = await tempDir()
    const { db, store } = await open(dir)
    const ch = (n: number, v: number): Change => ({ id: 'urn:x:1', o: 'domain-b', n, h: `000000000000${1000 + n}-00000`, c: n === 1 ? 1 : undefined, t: [T], a: [[temp, DEFAULT_INSTANCE, prop(v)]] })
    const seen: number[] = []
    store.events.addEventListener('change', e => { seen.push(e.detail.change.n) })
    assert.deepEqual(await store.applyRemote([ch(3, 30), ch(1, 10)]), { applied: 2, duplicates: 0 })
    assert.equal(store.versionVector()['domain-b'], 1, 'seq 2 is missing')
    assert.deepEqual(await store.applyRemote([ch(3, 30), ch(2, 20), ch(1, 10)]), { applied: 1, duplicates: 2 })
    assert.equal(store.versionVector()['domain-b'], 3)
    assert.equal((await store.get('urn:x:1'))?.attrs[temp][0].value, 30, 'the latest stamp wins, not the latest arrival')
    const log = await store.logSince('domain-b', 1, 10)
    assert.deepEqual(log.map(e => (JSON.parse(e.d) as { c: Change[] }).c.map(c => c.n)), [[2], [3]], 'the log keeps envelopes as received')
    assert.ok(seen.includes(1) && seen.includes(3))
    await db.close()
  })

  it('reports a planner error per entity and writes the rest of a batch', async () => {
    const dir = await tempDir()
    const { db, store } = await open(dir)
    const items = await store.mutateMany(['urn:a', 'urn:b', 'urn:c'], (cur, id) => {
      if (id === 'urn:b') throw new Error('bad b')
      return { create: true, types: [T] }
    })
    assert.equal(items[1].error instanceof Error, true)
    assert.deepEqual(await all(store.scan({ types: [T] })), ['urn:a', 'urn:c'])
    await assert.rejects(store.mutate('urn:d', () => { throw new Error('nope') }), /nope/)
    assert.equal(await store.get('urn:d'), null)
    await db.close()
  })

  it('splits a large group commit into envelopes that each fit a gossip message, covering every change once', async () => {
    const dir = await tempDir()
    const { db, store } = await open(dir)
    const sealed: Array<{ from: number, to: number, changes: number, size: number }> = []
    store.events.addEventListener('envelope', e => {
      const { envelope, from, to, changes } = e.detail
      sealed.push({ from, to, changes, size: envelope.d.length })
      const env = JSON.parse(envelope.d) as { o: string, f: number, t: number, c: Change[] }
      assert.equal(JSON.stringify(env), envelope.d, 'the envelope is plain JSON of { o, p, f, t, c }')
      assert.deepEqual([env.f, env.t, env.c.length], [from, to, changes])
      assert.deepEqual(env.c.map(c => c.n), Array.from({ length: changes }, (_, i) => from + i))
    })
    const blob = 'x'.repeat(4000)
    const ids = Array.from({ length: 300 }, (_, i) => `urn:ngsi-ld:Big:${i}`)
    await store.mutateMany(ids, () => ({ create: true, types: [T], attrs: [[temp, DEFAULT_INSTANCE, prop(blob)]] }))
    assert.ok(sealed.length >= 4, `1.2 MB of changes in ${sealed.length} envelope(s)`)
    assert.ok(sealed.every(s => s.size < 300 * 1024), 'each envelope stays near the split size')
    assert.deepEqual(sealed.map(s => s.from), [1, ...sealed.slice(0, -1).map(s => s.to + 1)], 'consecutive ranges')
    assert.equal(sealed[sealed.length - 1].to, 300)
    const log = await store.logSince('domain-a', 0, 100)
    assert.equal(log.length, sealed.length, 'every envelope is in the log')
    // Read by bytes too (anti-entropy's small rounds): none after the one that reaches the bound.
    const raw = await store.logSinceRaw('domain-a', 0, 100, 2 * 200 * 1024)
    assert.ok(raw.length >= 2 && raw.length < sealed.length, `${raw.length} of ${sealed.length}`)
    const upToLast = raw.slice(0, -1).reduce((n, e) => n + e.json.length, 0)
    assert.ok(upToLast < 2 * 200 * 1024 && upToLast + raw[raw.length - 1].json.length >= 2 * 200 * 1024)
    assert.deepEqual(raw.map(e => e.to), sealed.slice(0, raw.length).map(s => s.to))
    assert.equal((await store.logSinceRaw('domain-a', 0, 100, 1)).length, 1, 'at least one')
    await db.close()
  })
  it('after an unclean shutdown, never reuses a number it may have published, takes its own lost changes back and skips the rest', async () => {
    const dir = await tempDir()
    let { db, store } = await open(dir)
    for (let i = 1; i <= 3; i++) await store.mutate(`urn:ngsi-ld:Room:${i}`, () => ({ create: true, types: [T] }))
    assert.equal(store.versionVector()['domain-a'], 3)
    // No stop(): as after kill -9 or a power cut. Numbers up to the reservation may be out there.
    await db.close()

    ;({ db, store } = await open(dir))
    const gap = store.pendingOwnGap()
    assert.ok(gap != null && gap.from === 4 && gap.to > 4, `a gap to recover: ${JSON.stringify(gap)}`)
    assert.equal(store.versionVector()['domain-a'], 3, 'the version vector claims only what is on disk')
    const fresh = await store.mutate('urn:ngsi-ld:Room:new', () => ({ create: true, types: [T] }))
    assert.equal(fresh.change?.n, gap.to + 1, 'local writes continue after the reservation')
    assert.equal(store.versionVector()['domain-a'], 3)

    // A peer gives back change 4, which it received by gossip before the crash took it from our disk.
    const lost: Change = { id: 'urn:ngsi-ld:Room:lost', o: 'domain-a', n: 4, h: '0000000000001004-00000', c: 1, t: [T] }
    assert.deepEqual(await store.applyRemote([lost]), { applied: 1, duplicates: 0 })
    assert.equal((await store.get('urn:ngsi-ld:Room:lost'))?.id, 'urn:ngsi-ld:Room:lost')
    assert.equal(store.versionVector()['domain-a'], 4)

    // Nobody has the rest: they are skipped, with a signed-style envelope peers apply and pass on.
    const published: Array<{ from: number, to: number, changes: number }> = []
    store.events.addEventListener('envelope', e => { published.push({ from: e.detail.from, to: e.detail.to, changes: e.detail.changes }) })
    assert.equal(await store.fillOwnGap(), gap.to - 4)
    assert.deepEqual(published, [{ from: 5, to: gap.to, changes: 0 }])
    assert.equal(store.pendingOwnGap(), null)
    assert.equal(store.versionVector()['domain-a'], gap.to + 1, 'the watermark passes the skipped numbers and the new write')
    const [skip] = await store.logSince('domain-a', 4, 1)
    assert.deepEqual(JSON.parse(skip.d), { o: 'domain-a', p: '', f: 5, t: gap.to, c: [], k: 'skip' })
    // A late copy of a skipped change changes nothing.
    assert.equal((await store.applyRemote([{ ...lost, id: 'urn:ngsi-ld:Room:late', n: 5 }])).applied, 0)
    assert.equal(await store.get('urn:ngsi-ld:Room:late'), null)

    // A clean stop leaves nothing to recover, and numbering goes on without a gap.
    await store.stop()
    await db.close()
    ;({ db, store } = await open(dir))
    assert.equal(store.pendingOwnGap(), null)
    assert.equal((await store.mutate('urn:ngsi-ld:Room:9', () => ({ create: true, types: [T] }))).change?.n, gap.to + 2)
    await store.stop()
    await db.close()
  })

  it('applies a peer\'s skip envelope: the numbers count as received and the envelope is logged to pass on', async () => {
    const dir = await tempDir()
    const { db, store } = await open(dir)
    const envelope = { o: 'domain-b', p: '', f: 1, t: 5, c: [], k: 'skip' as const }
    const d = JSON.stringify(envelope)
    assert.deepEqual(await store.applyEnvelopes([{ envelope, signed: { d, s: 'sig' } }]), { applied: 0, duplicates: 0 })
    assert.equal(store.versionVector()['domain-b'], 5)
    assert.deepEqual(await store.logSince('domain-b', 0, 10), [{ d, s: 'sig' }])
    const ch: Change = { id: 'urn:x:after', o: 'domain-b', n: 6, h: '0000000000001006-00000', c: 1, t: [T] }
    assert.equal((await store.applyRemote([ch])).applied, 1)
    assert.equal(store.versionVector()['domain-b'], 6)
    // Again: nothing new.
    await store.applyEnvelopes([{ envelope, signed: { d, s: 'sig' } }])
    assert.equal((await store.logSince('domain-b', 0, 10)).length, 2)
    await db.close()
  })
})

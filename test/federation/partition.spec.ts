/**
 * Partition and heal, with real network faults.
 *
 * Proves: three domains, each a real `cmesh node` process in its own network namespace; domain-c
 * is cut off from the other two by iptables DROP rules (both ways, packets vanish) while clients
 * keep writing on both sides, many of the writes conflicting (the same attributes of the same
 * Room entities, from both sides of the cut). Then:
 * - during the partition both sides keep answering reads and writes (availability), each side's
 *   membership table shows the other side suspect or dead, and the majority side (domain-a,
 *   domain-b) keeps replicating between its members;
 * - after the heal every domain reports the same digest (entity hash and version vector) within
 *   a liveness bound;
 * - at every domain, every acknowledged write is present unless a later write by the merge rule
 *   (greater hybrid-clock stamp, tie-break by domain) replaced it, as far as `options=sysAttrs`
 *   (modifiedAt, writerDomain) lets a client see; and no domain holds an entity or a value that
 *   no client wrote.
 *
 * Takes 20–35 s on a busy 2-core machine: 8–20 s to start the three node processes (less with a
 * current `npm run build`), 5 s of partitioned writes (~400–1,300 writes), 1.5–4 s from the heal
 * to equal digests, well under a second for the checks. Needs root for the namespaces; skipped loudly
 * without. In-process replication without faults is covered by test/mesh/replication.spec.ts.
 */
import { strict as assert } from 'node:assert'
import { checkAgainstWrites, useFaultCluster, sleep, WriteLog, type DomainProcess } from './cluster.ts'

/** How long clients write while domain-c is cut off. Several suspect/dead periods (0.7/1.5 s). */
const PARTITION_WRITE_MS = 5000
/** Liveness bound after the heal (redial ≤ 1 s, sync every 300 ms): generous on a busy 2-core CI box. */
const CONVERGE_MS = 30_000

const SHARED = Array.from({ length: 6 }, (_, i) => `urn:ngsi-ld:Room:shared-${i}`)
const prop = (value: unknown): { type: 'Property', value: unknown } => ({ type: 'Property', value })

describe('federation: partition and heal (network namespaces, real node processes)', function () {
  this.timeout(120_000)
  const fault = useFaultCluster('federation: partition and heal')
  let A: DomainProcess, B: DomainProcess, C: DomainProcess
  const log = new WriteLog()
  /** what clients saw while C was cut off */
  const during = { writes: 0, failedWrites: [] as string[], reads: 0, failedReads: [] as string[] }
  const seen = { cAtA: new Set<string>(), cAtB: new Set<string>(), abAtC: new Set<string>() }
  let cutAt = 0
  let healedAt = 0

  before(() => { [A, B, C] = fault.domains })

  it('before the cut: shared rooms written at every domain replicate everywhere', async () => {
    const c = fault.cluster
    for (const [i, id] of SHARED.entries()) {
      const d = c.domains[i % 3]
      const r = await log.create(d, { id, type: 'Room', temperature: prop(log.next()), status: prop(`s${log.next()}`) })
      assert.equal(r.status, 201, r.error)
    }
    await c.waitConverged(CONVERGE_MS)
  })

  it('during the partition both sides answer reads and writes, and each sees the other side suspect or dead', async () => {
    const c = fault.cluster
    await c.lab.partition('c')
    cutAt = Date.now()
    const end = Date.now() + PARTITION_WRITE_MS
    // Two clients per domain, so that writes overlap in time on both sides of the cut.
    const writers = [A, A, B, B, C, C].map(async (d, k) => { await writeLoop(d, k, end) })
    const readers = [A, B, C].map(async d => { await readLoop(d, end) })
    const watch = watchMembership(end)
    await Promise.all([...writers, ...readers, watch])

    assert.ok(during.writes > 50, `only ${during.writes} writes in ${PARTITION_WRITE_MS} ms`)
    assert.deepEqual(during.failedWrites, [], 'every write during the partition is acknowledged (availability)')
    assert.deepEqual(during.failedReads, [], 'every read during the partition is answered')
    // The majority side loses sight of C, and C of both of them.
    assert.ok([...seen.cAtA].some(s => s !== 'alive'), `domain-a saw domain-c only as ${[...seen.cAtA].join(', ')}`)
    assert.ok([...seen.cAtB].some(s => s !== 'alive'), `domain-b saw domain-c only as ${[...seen.cAtB].join(', ')}`)
    assert.ok([...seen.abAtC].some(s => s !== 'alive'), `domain-c saw the others only as ${[...seen.abAtC].join(', ')}`)
    // Both sides wrote the same attributes: the merge has real conflicts to settle.
    const sides = (id: string): Set<string> => new Set(log.records.filter(r => r.sentAt >= cutAt && r.writes[id] != null && r.op !== 'create').map(r => r.domain === C.name ? 'c' : 'ab'))
    assert.ok(SHARED.every(id => sides(id).size === 2), 'every shared room was written on both sides of the cut')
  })

  it('the majority side keeps replicating between its members while domain-c is cut off', async () => {
    const c = fault.cluster
    assert.ok(cutAt > 0, 'the partition step ran')
    const { digests, ms } = await c.waitConverged(CONVERGE_MS, [A, B])
    console.log(`      domain-a and domain-b equal ${ms} ms after the writes: vv ${JSON.stringify(digests[0].versionVector)}`)
    const atC = await C.digest()
    assert.notEqual(atC.entityHash, digests[0].entityHash, 'domain-c, cut off, has not seen their writes')
  })

  it('after the heal all domains converge to equal digests within the bound', async () => {
    const c = fault.cluster
    await c.lab.heal('c')
    healedAt = Date.now()
    const { digests, ms } = await c.waitConverged(CONVERGE_MS)
    console.log(`      converged ${ms} ms after the heal: ${digests[0].entities} entities, vv ${JSON.stringify(digests[0].versionVector)}`)
    await c.waitAllAlive(CONVERGE_MS)
  })

  it('keeps every acknowledged write unless a later one replaced it, and holds only values clients wrote', async () => {
    assert.ok(healedAt > 0, 'the heal step ran')
    const acked = log.acknowledged().length
    assert.ok(acked > 50, `only ${acked} acknowledged writes`)
    for (const d of [A, B, C]) {
      const rooms = await d.entities('Room')
      const problems = checkAgainstWrites(d.name, rooms, log)
      assert.deepEqual(problems.slice(0, 20), [], `${problems.length} problem(s) at ${d.name}`)
    }
    // Sanity of the check itself: the shared rooms really did settle conflicts from both sides.
    const rooms = await A.entities('Room')
    const writers = new Set(rooms.filter(r => SHARED.includes(r.id)).flatMap(r => [r.temperature.writerDomain, r.status.writerDomain]))
    console.log(`      ${log.records.length} writes (${acked} acknowledged); shared rooms' final writers: ${[...writers].sort().join(', ')}`)
  })

  /** One client: patches and batch-upserts shared rooms, and creates rooms of its own. */
  async function writeLoop (d: DomainProcess, k: number, end: number): Promise<void> {
    let n = 0
    while (Date.now() < end) {
      n++
      const pick = (): string => SHARED[Math.floor(Math.random() * SHARED.length)]
      const roll = Math.random()
      let rec
      if (roll < 0.6) {
        // One or both attributes: conflicts per attribute, not per entity.
        const attrs: Record<string, unknown> = {}
        if (Math.random() < 0.7) attrs.temperature = prop(log.next())
        if (Math.random() < 0.7 || attrs.temperature == null) attrs.status = prop(`s${log.next()}`)
        rec = await log.patch(d, pick(), attrs)
      } else if (roll < 0.8) {
        const ids = [...new Set([pick(), pick(), pick()])]
        rec = await log.upsert(d, ids.map(id => ({ id, type: 'Room', temperature: prop(log.next()), status: prop(`s${log.next()}`) })), 'update')
      } else {
        rec = await log.create(d, { id: `urn:ngsi-ld:Room:${d.host}-${k}-${n}`, type: 'Room', temperature: prop(log.next()) })
      }
      during.writes++
      if (rec.ackAt == null || rec.acked.length !== Object.keys(rec.writes).length) {
        during.failedWrites.push(`${d.name} ${rec.op}: ${rec.status ?? 'no answer'} ${rec.error ?? ''}`)
      }
    }
  }

  async function readLoop (d: DomainProcess, end: number): Promise<void> {
    while (Date.now() < end) {
      const id = SHARED[Math.floor(Math.random() * SHARED.length)]
      during.reads++
      try {
        const r = await d.api('GET', `/ngsi-ld/v1/entities/${encodeURIComponent(id)}`, undefined, 10_000)
        if (r.status !== 200) during.failedReads.push(`${d.name} GET ${id}: ${r.status}`)
      } catch (err) {
        during.failedReads.push(`${d.name} GET ${id}: ${(err as Error).message}`)
      }
      await sleep(20)
    }
  }

  async function watchMembership (end: number): Promise<void> {
    while (Date.now() < end) {
      const [a, b, c] = await Promise.all([A.stateOf(C), B.stateOf(C), Promise.all([C.stateOf(A), C.stateOf(B)])])
      seen.cAtA.add(a?.state ?? 'unknown')
      seen.cAtB.add(b?.state ?? 'unknown')
      for (const m of c) seen.abAtC.add(m?.state ?? 'unknown')
      await sleep(100)
    }
  }
})

/**
 * kill -9 during sustained writes, with real processes.
 *
 * Proves: three domains, each a real `cmesh node` process in its own network namespace.
 * domain-b takes a steady stream of writes (single creates and batch upserts, three clients)
 * while domain-a takes writes of its own; domain-b is SIGKILLed mid-stream (requests in flight).
 * Then:
 * - restarted on the same data dir, and kept cut off from the others by iptables so that all it
 *   holds comes from its own disk, it holds every write it acknowledged before the kill, with
 *   the values written and itself as writer;
 * - healed, it catches up with the others (equal digests within a liveness bound: it missed
 *   domain-a's writes while down), and every domain holds every acknowledged write of both
 *   domain-a and domain-b, and nothing no client wrote.
 *
 * Takes 25–30 s on a busy 2-core machine: 8–20 s to start the nodes, 3 s of writes (50–100
 * acknowledged requests, 600–1,250 entities at domain-b), 2.5 s down, a restart (~5 s), 1.5–2.5 s
 * from the heal to equal digests. Needs root for the namespaces; skipped loudly without.
 */
import { strict as assert } from 'node:assert'
import { checkAgainstWrites, useFaultCluster, sleep, waitFor, WriteLog, type DomainProcess, type WriteRecord } from './cluster.ts'

/** Writes before the kill: long enough for a few hundred acknowledged writes. */
const WRITE_BEFORE_KILL_MS = 3000
/** How long domain-b stays down while domain-a keeps taking writes (dead after 1.5 s). */
const DOWN_MS = 2500
const CONVERGE_MS = 30_000
const BATCH = 25

const prop = (value: unknown): { type: 'Property', value: unknown } => ({ type: 'Property', value })

describe('federation: kill -9 during sustained writes (network namespaces, real node processes)', function () {
  this.timeout(150_000)
  const fault = useFaultCluster('federation: kill -9 during sustained writes')
  let A: DomainProcess, B: DomainProcess
  const log = new WriteLog()
  let killedAt = 0

  before(() => { [A, B] = fault.domains })

  it('holds, after a restart on the same data dir, every write it acknowledged before SIGKILL', async () => {
    const c = fault.cluster
    let bDown = false
    let aStop = false
    const bWriters = [0, 1, 2].map(async k => { await writeLoop(B, k, () => bDown) })
    const aWriter = writeLoop(A, 0, () => aStop)
    await sleep(WRITE_BEFORE_KILL_MS)
    const inFlight = log.records.filter(r => r.domain === B.name && r.status == null && r.error == null).length
    await B.kill9()
    killedAt = Date.now()
    bDown = true
    await Promise.all(bWriters)

    const bRecs = log.records.filter(r => r.domain === B.name)
    const acked = bRecs.filter(r => r.ackAt != null)
    const unanswered = bRecs.filter(r => r.ackAt == null)
    assert.ok(acked.length >= 20, `only ${acked.length} writes acknowledged by domain-b before the kill`)
    assert.ok(acked.every(r => (r.ackAt as number) <= killedAt), 'acknowledgements come before the kill')
    console.log(`      domain-b acknowledged ${acked.length} writes (${acked.reduce((n, r) => n + r.acked.length, 0)} entities), ${unanswered.length} unanswered (${inFlight} in flight at the kill)`)

    // domain-a keeps taking writes while domain-b is down, and sees it go.
    await waitFor(async () => (await A.stateOf(B))?.state !== 'alive', 'domain-a to see domain-b not alive', 10_000)
    await sleep(DOWN_MS)
    aStop = true
    await aWriter

    // Restart cut off: nothing can reach domain-b from the others, so what it holds is its own.
    await c.lab.partition('b')
    await B.start(60_000)
    const rooms = await B.entities('Room')
    const problems = checkAgainstWrites(B.name, rooms, log, id => id.includes(':kill-b-'))
    assert.deepEqual(problems.slice(0, 20), [], `${problems.length} problem(s) at domain-b after the restart`)
    const held = new Set(rooms.map(r => r.id as string))
    const missing = acked.flatMap(r => r.acked).filter(id => !held.has(id))
    assert.deepEqual(missing, [], 'every entity domain-b acknowledged is there after the restart')
  })

  it('catches up with the others after the restart, and they hold its acknowledged writes', async () => {
    const c = fault.cluster
    assert.ok(killedAt > 0, 'the kill step ran')
    await c.lab.heal('b')
    const { digests, ms } = await c.waitConverged(CONVERGE_MS)
    console.log(`      converged ${ms} ms after the heal: ${digests[0].entities} entities, vv ${JSON.stringify(digests[0].versionVector)}`)
    for (const d of c.domains) {
      const problems = checkAgainstWrites(d.name, await d.entities('Room'), log)
      assert.deepEqual(problems.slice(0, 20), [], `${problems.length} problem(s) at ${d.name}`)
    }
    // The heal really was needed: domain-b lacked domain-a's writes from its downtime.
    const aDuringDown = log.records.filter(r => r.domain === A.name && r.ackAt != null && r.sentAt > killedAt)
    assert.ok(aDuringDown.length > 0, 'domain-a took writes while domain-b was down')
  })

  /** One client: alternates a single create with a batch upsert of new entities, until `stop()`. */
  async function writeLoop (d: DomainProcess, k: number, stop: () => boolean): Promise<void> {
    for (let n = 0; !stop(); n++) {
      const id = (i: number): string => `urn:ngsi-ld:Room:kill-${d.host}-${k}-${n}-${i}`
      let rec: WriteRecord
      if (n % 2 === 0) {
        rec = await log.create(d, { id: id(0), type: 'Room', temperature: prop(log.next()) })
      } else {
        rec = await log.upsert(d, Array.from({ length: BATCH }, (_, i) => ({ id: id(i), type: 'Room', temperature: prop(log.next()), status: prop(`s${log.next()}`) })))
      }
      // A refused connection after the kill returns at once: do not spin.
      if (rec.ackAt == null) await sleep(20)
    }
  }
})

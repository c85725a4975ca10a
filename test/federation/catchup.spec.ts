/**
 * Catch-up of a partitioned domain that missed thousands of writes, with real network faults.
 *
 * Proves: three domains, each a real `cmesh node` process in its own network namespace.
 * domain-c is cut off (iptables DROP both ways) while domain-a and domain-b take a few thousand
 * entity writes through batch upserts (creates, then updates of the other side's entities).
 * After the heal, with no operator action:
 * - domain-c's /mesh/v1/peers shows a positive `sync.lag` for a peer at some point (it knows
 *   it is behind, from the peers' heartbeats);
 * - every domain reports the same digest within a liveness bound;
 * - domain-c holds every acknowledged write (or a later one of the same attribute), and nothing
 *   no client wrote.
 *
 * Takes 25–40 s on a busy 2-core machine: 8–20 s to start the nodes, ~2 s of batch writes
 * (4,000 changes), 2–5.5 s from the heal to equal digests (including the redial), the checks. Needs root for the namespaces; skipped loudly without.
 */
import { strict as assert } from 'node:assert'
import { checkAgainstWrites, useFaultCluster, sleep, waitFor, WriteLog, type DomainProcess } from './cluster.ts'

/** Entities created at domain-a and domain-b while domain-c is cut off, and the batch size. */
const CREATE_AT_A = 2500
const CREATE_AT_B = 1000
const UPDATE_AT_A = 500
const BATCH = 250
/** Liveness bound for the catch-up (it pages through the sync protocol; slow CI is fine). */
const CATCH_UP_MS = 60_000

const prop = (value: unknown): { type: 'Property', value: unknown } => ({ type: 'Property', value })

describe('federation: catch-up after a long partition (network namespaces, real node processes)', function () {
  this.timeout(150_000)
  const fault = useFaultCluster('federation: catch-up after a long partition')
  let A: DomainProcess, B: DomainProcess, C: DomainProcess
  const log = new WriteLog()

  before(() => { [A, B, C] = fault.domains })

  it('a cut-off domain that missed thousands of writes catches up by itself after the heal', async () => {
    const c = fault.cluster
    await c.lab.partition('c')
    await waitFor(async () => (await A.stateOf(C))?.state !== 'alive' && (await C.stateOf(A))?.state !== 'alive', 'the cut to show in the membership tables', 10_000)

    const ids = (host: string, n: number): string[] => Array.from({ length: n }, (_, i) => `urn:ngsi-ld:Room:bulk-${host}-${i}`)
    const room = (id: string): Record<string, unknown> => ({ id, type: 'Room', temperature: prop(log.next()), status: prop(`s${log.next()}`) })
    await Promise.all([
      upsertAll(A, ids('a', CREATE_AT_A).map(room)),
      upsertAll(B, ids('b', CREATE_AT_B).map(room))
    ])
    // Updates of the other side's entities (merged into them, not replacing them).
    await upsertAll(A, ids('b', UPDATE_AT_A).map(id => ({ id, type: 'Room', temperature: prop(log.next()) })), 'update')
    await c.waitConverged(CATCH_UP_MS, [A, B])
    const before = await C.digest()
    assert.ok(before.entities < (await A.digest()).entities - CREATE_AT_A, 'domain-c missed the writes')

    // Watch domain-c's view of its peers closely from the heal on: the lag shows between the
    // first heartbeat after the heal and the end of the catch-up.
    let maxLag = 0
    let watching = true
    const watch = (async () => {
      while (watching) {
        try {
          for (const m of (await C.peers()).members) maxLag = Math.max(maxLag, m.sync?.lag ?? 0)
        } catch { /* a slow answer under load: try again */ }
        await sleep(20)
      }
    })()
    const healedAt = Date.now()
    await c.lab.heal('c')
    let converged
    try {
      converged = await c.waitConverged(CATCH_UP_MS)
    } finally {
      watching = false
      await watch
    }
    const { digests } = converged
    const missed = digests[0].entities - before.entities
    console.log(`      domain-c caught up ${missed} entities in ${Date.now() - healedAt} ms after the heal; largest sync.lag seen: ${maxLag}`)
    assert.ok(maxLag > 0, 'domain-c\'s /mesh/v1/peers showed a positive sync.lag during the catch-up')

    for (const d of c.domains) {
      const problems = checkAgainstWrites(d.name, await d.entities('Room'), log)
      assert.deepEqual(problems.slice(0, 20), [], `${problems.length} problem(s) at ${d.name}`)
    }
  })

  async function upsertAll (d: DomainProcess, entities: Array<Record<string, unknown>>, mode: 'replace' | 'update' = 'replace'): Promise<void> {
    for (let i = 0; i < entities.length; i += BATCH) {
      const rec = await log.upsert(d, entities.slice(i, i + BATCH), mode)
      assert.ok(rec.ackAt != null && rec.acked.length === Math.min(BATCH, entities.length - i), `batch upsert at ${d.name}: ${rec.status ?? 'no answer'} ${rec.error ?? ''}`)
    }
  }
})

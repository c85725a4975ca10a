/**
 * The check the fault suites run on the final state (cluster.ts, checkAgainstWrites): a check
 * that passes everything would make them prove nothing, so here it meets states that break the
 * merge rule in each way it must notice, and concurrent writes it must accept. Pure, no
 * network; takes milliseconds.
 */
import { strict as assert } from 'node:assert'
import { checkAgainstWrites, WriteLog, type WriteRecord } from './cluster.ts'

const R1 = 'urn:ngsi-ld:Room:1'
const R2 = 'urn:ngsi-ld:Room:2'
const iso = (ms: number): string => new Date(ms).toISOString()

function record (domain: string, writes: WriteRecord['writes'], sentAt: number, ackAt: number | null): WriteRecord {
  return { domain, op: 'patch', writes, sentAt, ackAt, status: ackAt == null ? null : 204, acked: ackAt == null ? [] : Object.keys(writes) }
}

function room (id: string, temperature: number, writerDomain: string, modifiedAt: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, type: 'Room', createdAt: iso(900), modifiedAt: iso(modifiedAt), ownerDomain: 'domain-a', temperature: { type: 'Property', value: temperature, createdAt: iso(900), modifiedAt: iso(modifiedAt), writerDomain }, ...extra }
}

describe('federation: the check of final states against acknowledged writes', () => {
  // w1 at domain-a, then w2 at domain-c strictly after w1 was acknowledged.
  function sequential (): WriteLog {
    const log = new WriteLog()
    log.records.push(record('domain-a', { [R1]: { temperature: 1 } }, 1000, 1010))
    log.records.push(record('domain-c', { [R1]: { temperature: 2 } }, 1020, 1030))
    return log
  }

  it('accepts the later write as the winner', () => {
    assert.deepEqual(checkAgainstWrites('x', [room(R1, 2, 'domain-c', 1025)], sequential()), [])
  })

  it('accepts either of two overlapping writes (their order is the clocks\' to decide)', () => {
    const log = new WriteLog()
    log.records.push(record('domain-a', { [R1]: { temperature: 1 } }, 1000, 1030))
    log.records.push(record('domain-c', { [R1]: { temperature: 2 } }, 1005, 1020))
    assert.deepEqual(checkAgainstWrites('x', [room(R1, 1, 'domain-a', 1010)], log), [])
    assert.deepEqual(checkAgainstWrites('x', [room(R1, 2, 'domain-c', 1015)], log), [])
  })

  it('accepts an unacknowledged write as the winner, and its absence', () => {
    const log = sequential()
    log.records.push(record('domain-b', { [R1]: { temperature: 3 } }, 1040, null))
    assert.deepEqual(checkAgainstWrites('x', [room(R1, 3, 'domain-b', 1041)], log), [])
    assert.deepEqual(checkAgainstWrites('x', [room(R1, 2, 'domain-c', 1025)], log), [])
  })

  const broken: Array<[string, Array<Record<string, unknown>>, RegExp]> = [
    ['an acknowledged later write lost to an earlier one', [room(R1, 1, 'domain-a', 1005)], /lost 2 \(domain-c/],
    ['a value no client wrote', [room(R1, 7, 'domain-c', 1025)], /holds 7, which no client wrote/],
    ['the wrong writer domain', [room(R1, 2, 'domain-a', 1025)], /shows writerDomain domain-a/],
    ['a stamp outside its write\'s time', [room(R1, 2, 'domain-c', 1500)], /outside its write/],
    ['an attribute no client wrote', [room(R1, 2, 'domain-c', 1025, { humidity: { type: 'Property', value: 1 } })], /holds attribute humidity/],
    ['an entity no client wrote', [room(R1, 2, 'domain-c', 1025), room(R2, 2, 'domain-c', 1025)], /holds entity urn:ngsi-ld:Room:2/],
    ['a missing acknowledged entity', [], /urn:ngsi-ld:Room:1 is missing/]
  ]
  for (const [what, state, expected] of broken) {
    it(`reports ${what}`, () => {
      const problems = checkAgainstWrites('x', state, sequential())
      assert.ok(problems.some(p => expected.test(p)), `expected ${String(expected)} in ${JSON.stringify(problems)}`)
    })
  }
})

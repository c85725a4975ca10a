import { strict as assert } from 'node:assert'
import { compactRecord, emptyRecord, mergeChange, mergeRecords, viewOf, type Change, formatHlc, HybridClock, DEFAULT_INSTANCE } from '../../../src/ngsi/store/index.ts'
import { seededRandom as rng } from '../../helpers/random.ts'

const T = 'https://example.org/T'
const X = 'https://example.org/x'
const Y = 'https://example.org/y'
const h = (ms: number, c = 0): string => formatHlc(ms, c)
const prop = (value: unknown) => ({ type: 'Property' as const, value })

function shuffle<T> (xs: T[], r: () => number): T[] {
  const a = [...xs]
  for (let i = a.length - 1; i > 0; i--) { const j = Math.floor(r() * (i + 1)); [a[i], a[j]] = [a[j], a[i]] }
  return a
}

function apply (changes: Change[]) {
  const rec = emptyRecord('urn:e:1')
  for (const c of changes) mergeChange(rec, c)
  return { rec, view: viewOf(rec) }
}

describe('ngsi store: CRDT merge', () => {
  const history: Change[] = [
    { id: 'urn:e:1', o: 'a', n: 1, h: h(1000), c: 1, t: [T], a: [[X, DEFAULT_INSTANCE, prop(1)]] },
    { id: 'urn:e:1', o: 'b', n: 1, h: h(1001), a: [[X, DEFAULT_INSTANCE, prop(2)]] },
    { id: 'urn:e:1', o: 'a', n: 2, h: h(1001), a: [[X, DEFAULT_INSTANCE, prop(3)]] }, // same stamp: 'b' > 'a' wins
    { id: 'urn:e:1', o: 'c', n: 1, h: h(1002), a: [[Y, 'urn:ds:1', prop('y1')]] },
    { id: 'urn:e:1', o: 'a', n: 3, h: h(1003), a: [[Y, 'urn:ds:1', null]] },
    { id: 'urn:e:1', o: 'b', n: 2, h: h(1004), a: [[Y, DEFAULT_INSTANCE, prop('y0')]] }
  ]

  it('converges to the same state whatever the order, with duplicates', () => {
    const reference = apply(history)
    assert.deepEqual(reference.view?.attrs[X].map(a => a.value), [2], 'b wins the tie at the same stamp')
    assert.deepEqual(reference.view?.attrs[Y].map(a => a.value), ['y0'], 'the dataset instance was deleted')
    const r = rng(42)
    for (let i = 0; i < 200; i++) {
      const order = shuffle([...history, ...history.filter(() => r() < 0.3)], r)
      const { rec, view } = apply(order)
      assert.deepEqual(rec, reference.rec, `order ${order.map(c => c.o + c.n).join(',')}`)
      assert.deepEqual(view, reference.view)
    }
  })

  it('hides writes older than an entity delete and keeps later ones', () => {
    const del: Change = { id: 'urn:e:1', o: 'b', n: 9, h: h(1003, 5), d: 1 }
    const { view } = apply([...history, del])
    // Only the write at 1004 (after the delete) is visible: the entity lives on with it.
    assert.deepEqual(Object.keys(view?.attrs ?? {}), [Y])
    assert.equal(view?.attrs[Y][0].value, 'y0')
    const { view: gone } = apply([...history.slice(0, 5), del])
    assert.equal(gone, null, 'nothing written after the delete: the entity is gone')
  })

  it('compaction drops old tombstones and hidden registers, and ignores stale writes below its floor', () => {
    const { rec } = apply(history)
    const compacted = compactRecord(rec, h(1003, 5))
    assert.notEqual(compacted, rec)
    assert.equal(compacted.attrs[Y]['urn:ds:1'], undefined, 'the tombstone of 1003 is gone')
    assert.deepEqual(viewOf(compacted), viewOf(rec), 'what clients see is unchanged')
    assert.equal(compactRecord(compacted, h(1003, 5)), compacted, 'nothing more to drop')
    // A write from before the floor to the dropped register is stale: it lost to the tombstone.
    const late: Change = { id: 'urn:e:1', o: 'c', n: 7, h: h(1002, 1), a: [[Y, 'urn:ds:1', prop('zombie')]] }
    assert.equal(mergeChange(compacted, late), false)
    assert.equal(viewOf(compacted)?.attrs[Y].length, 1)
    // A newer one is applied as usual.
    assert.equal(mergeChange(compacted, { ...late, n: 8, h: h(1005) }), true)
    // Merging with an uncompacted replica keeps the floor's verdict.
    const merged = mergeRecords(compactRecord(apply(history).rec, h(1003, 5)), apply(history).rec)
    assert.equal(merged.attrs[Y]['urn:ds:1'], undefined)
  })

  it('takes createdAt, modifiedAt and the owner from the stamps', () => {
    const { view } = apply(history)
    assert.equal(view?.createdAt, new Date(1000).toISOString())
    assert.equal(view?.modifiedAt, new Date(1004).toISOString())
    assert.equal(view?.owner, 'a')
    assert.equal(view?.attrs[X][0].writer, 'b')
  })

  it('issues increasing stamps even when the wall clock stands still or goes back', () => {
    let now = 5000
    const clock = new HybridClock(() => now)
    const a = clock.now(); const b = clock.now()
    now = 4000
    const c = clock.now()
    assert.ok(a < b && b < c)
    clock.observe(h(9000, 3))
    assert.ok(clock.now() > h(9000, 3))
    assert.throws(() => { clock.observe(h(now + 3_600_000)) }, /ahead of ours/)
  })
})

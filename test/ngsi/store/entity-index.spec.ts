import { strict as assert } from 'node:assert'
import { EntityIndex } from '../../../src/ngsi/store/entity-index.ts'
import type { Attribute, AttributeKind, Entity } from '../../../src/ngsi/types.ts'
import { seededRandom as random } from '../../helpers/random.ts'

const TYPES = ['https://x/Room', 'https://x/Car', 'https://x/Sensor']
const ATTRS = ['https://x/a', 'https://x/b', 'https://x/c', 'https://x/d']
const KINDS: AttributeKind[] = ['Property', 'Relationship', 'GeoProperty']

function entityOf (id: string, rnd: () => number): Entity | null {
  if (rnd() < 0.15) return null
  const type = TYPES.filter(() => rnd() < 0.4)
  if (type.length === 0) type.push(TYPES[Math.floor(rnd() * TYPES.length)])
  const attrs: Record<string, Attribute[]> = {}
  for (const name of ATTRS) {
    if (rnd() < 0.5) continue
    const instances = 1 + Math.floor(rnd() * 2)
    attrs[name] = Array.from({ length: instances }, (_, i) => ({ type: KINDS[Math.floor(rnd() * KINDS.length)], value: i } as unknown as Attribute))
  }
  return { id, type, attrs, createdAt: '', modifiedAt: '', owner: 'd' } as unknown as Entity
}

/** Everything the index tells, in a comparable form. */
function snapshot (ix: EntityIndex): unknown {
  return {
    total: ix.total,
    all: [...ix.allIds()],
    types: [...ix.types].map(([t, s]) => [t, s.entities, [...s.attrs].sort(), [...ix.idsOfTypes([t])]]).sort(),
    attrs: [...ix.attrs].map(([a, s]) => [a, s.entities, [...s.kinds].sort(), [...s.types].sort(), [...ix.idsWithAttr(a)]]).sort()
  }
}

describe('ngsi store: entity index', () => {
  it('after any sequence of versions (same shape or not) holds what a fresh index of the last versions holds', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const rnd = random(seed)
      const ix = new EntityIndex()
      const current = new Map<string, Entity | null>()
      for (let step = 0; step < 400; step++) {
        const id = `urn:ngsi-ld:E:${Math.floor(rnd() * 25)}`
        const before = current.get(id) ?? null
        // Half the updates keep the shape (new attribute objects, same types and kinds), as most writes do.
        const after = before != null && rnd() < 0.5
          ? { ...before, type: rnd() < 0.5 ? before.type : [...before.type], attrs: Object.fromEntries(Object.entries(before.attrs).map(([k, v]) => [k, v.map(a => ({ ...a }))])) }
          : entityOf(id, rnd)
        ix.apply(before, after)
        current.set(id, after)
      }
      const fresh = new EntityIndex()
      for (const e of current.values()) if (e != null) fresh.apply(null, e)
      assert.deepEqual(snapshot(ix), snapshot(fresh), `seed ${seed}`)
    }
  })
})

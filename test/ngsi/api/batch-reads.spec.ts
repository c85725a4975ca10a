import { strict as assert } from 'node:assert'
import type { Level } from 'level'
import type { ContinuumNode } from '../../../src/node.ts'
import { cleanup, nodeFor, prepareDomain } from '../../helpers/index.ts'

const P = '/ngsi-ld/v1'
const room = (n: number, temp: number) => ({ id: `urn:ngsi-ld:Room:batch-${n}`, type: 'Room', temperature: { type: 'Property', value: temp } })

/**
 * A batch over entities the node does not hold parsed in memory (more entities than
 * `ngsi.cacheSize`): the roles and the write policy look at every entity as it is, and read them
 * from LevelDB together, not one LevelDB call per entity.
 */
describe('NGSI-LD API: batches over entities not held in memory', function () {
  this.timeout(30_000)
  let node: ContinuumNode

  before(async () => {
    const d = await prepareDomain('batch-reads')
    node = nodeFor(d, { members: [], config: { ngsi: { cacheSize: 50, recordCacheSize: 10 } } })
    await node.start()
  })

  after(cleanup)

  async function post (path: string, body: unknown): Promise<Response> {
    return await fetch(`${node.apiUrl}${P}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  }

  it('reads the current entities of a batch upsert in one LevelDB call, and updates them all', async () => {
    assert.equal((await post('/entityOperations/create', Array.from({ length: 300 }, (_, i) => room(i, i)))).status, 201)
    // Count the store's LevelDB reads (memory holds the 50 entities and 10 records written last).
    const db = (node.ngsi.store as unknown as { db: Level<string, string> }).db
    const reads: number[] = []
    const getMany = db.getMany.bind(db)
    const get = db.get.bind(db)
    ;(db as unknown as Record<string, unknown>).getMany = async (keys: string[], opts?: unknown) => { reads.push(keys.length); return await getMany(keys, opts as never) }
    ;(db as unknown as Record<string, unknown>).get = async (key: string, opts?: unknown) => { reads.push(1); return await get(key, opts as never) }
    try {
      const res = await post('/entityOperations/upsert?options=update', Array.from({ length: 100 }, (_, i) => room(i, 1000 + i)))
      assert.equal(res.status, 204)
    } finally {
      delete (db as unknown as Record<string, unknown>).getMany
      delete (db as unknown as Record<string, unknown>).get
    }
    assert.ok(reads.length <= 2, `LevelDB reads for a batch of 100: ${reads.length} calls (${reads.join(', ')} keys)`)
    assert.ok(reads.some(n => n === 100), 'the hundred entities were read together')
    for (const i of [0, 50, 99]) {
      const got = await (await fetch(`${node.apiUrl}${P}/entities/urn:ngsi-ld:Room:batch-${i}`)).json() as { temperature: { value: number } }
      assert.equal(got.temperature.value, 1000 + i)
    }
  })
})

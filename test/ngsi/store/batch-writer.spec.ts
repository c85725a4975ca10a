import { strict as assert } from 'node:assert'
import { join } from 'node:path'
import { Level } from 'level'
import { BatchWriter, writeBatch } from '../../../src/ngsi/store/batch-writer.ts'
import type { Change } from '../../../src/ngsi/store/crdt.ts'
import { cleanup, tempDir } from '../../helpers/index.ts'

describe('ngsi store: group commit', () => {
  after(cleanup)

  it('fsyncs a group when any of its writes asks for it, and only then', async () => {
    const db = new Level<string, string>(join(await tempDir(), 'db'), { valueEncoding: 'utf8' })
    await db.open()
    // The real LevelDB, watched: which batches were written with sync.
    const syncs: boolean[] = []
    // (_batch is where every batch ends, whichever way it is handed to abstract-level)
    const batch = (db as unknown as { _batch: (ops: unknown, opts: { sync: boolean }) => Promise<void> })._batch.bind(db)
    ;(db as unknown as { _batch: typeof batch })._batch = async (ops, opts) => { syncs.push(opts.sync); await batch(ops, opts) }
    const writer = new BatchWriter(db, { sync: true })

    await writer.write([{ type: 'put', key: 'remote', value: '1' }], undefined, { sync: false })
    await writer.write([{ type: 'put', key: 'local', value: '1' }])
    // Written while the first is on its way: these two share the next group, which must sync.
    const first = writer.write([{ type: 'put', key: 'a', value: '1' }], undefined, { sync: false })
    const mixed = [writer.write([{ type: 'put', key: 'b', value: '1' }], undefined, { sync: false }), writer.write([{ type: 'put', key: 'c', value: '1' }])]
    await Promise.all([first, ...mixed])

    assert.deepEqual(syncs.slice(0, 2), [false, true])
    assert.deepEqual(syncs.slice(2), syncs.length === 3 ? [true] : [false, true], `groups after the first two: ${JSON.stringify(syncs.slice(2))}`)
    assert.deepEqual(await db.getMany(['remote', 'local', 'a', 'b', 'c']), ['1', '1', '1', '1', '1'])
    await db.close()
  })

  it('writes only the last operation per key of a group, and the last one wins', async () => {
    const db = new Level<string, string>(join(await tempDir(), 'db'), { valueEncoding: 'utf8' })
    await db.open()
    const sizes: number[] = []
    const batch = (db as unknown as { _batch: (ops: unknown[], opts: unknown) => Promise<void> })._batch.bind(db)
    ;(db as unknown as { _batch: typeof batch })._batch = async (ops, opts) => { sizes.push(ops.length); await batch(ops, opts) }
    const writer = new BatchWriter(db, { sync: false })
    // Local writes (they carry changes): the writer waits one turn, so the three share one group.
    const local = (n: number): Change[] => [{ id: 'urn:x', o: 'domain-a', n, h: `00000000000${n}-00000` }]
    await Promise.all([
      writer.write([{ type: 'put', key: 'wm', value: '1' }, { type: 'put', key: 'x', value: 'x' }], local(1)),
      writer.write([{ type: 'put', key: 'wm', value: '2' }, { type: 'put', key: 'y', value: 'y' }], local(2)),
      writer.write([{ type: 'put', key: 'wm', value: '3' }, { type: 'del', key: 'x' }], local(3))
    ])
    assert.deepEqual(await db.getMany(['wm', 'x', 'y']), ['3', undefined, 'y'])
    // One group: wm once, y, and the delete of x.
    assert.deepEqual(sizes, [3])
    await db.close()
  })

  describe('writeBatch', () => {
    async function openDb (): Promise<Level<string, string>> {
      const db = new Level<string, string>(join(await tempDir(), 'db'), { valueEncoding: 'utf8' })
      await db.open()
      return db
    }

    it('hands string operations straight to LevelDB: puts and deletes, in order, readable after', async () => {
      const db = await openDb()
      let publicCalls = 0
      const batch = db.batch.bind(db) as (...args: unknown[]) => Promise<void>
      ;(db as unknown as { batch: unknown }).batch = async (...args: unknown[]) => { publicCalls++; return await batch(...args) }
      await db.put('gone', 'old')
      await writeBatch(db, [
        { type: 'put', key: 'a', value: 'ä 1 ✓' },
        { type: 'del', key: 'gone' },
        { type: 'put', key: 'b', value: '' },
        { type: 'put', key: 'a', value: 'ä 2 ✓' }
      ], false)
      assert.equal(publicCalls, 0, 'abstract-level batch() skipped')
      assert.deepEqual(await db.getMany(['a', 'b', 'gone']), ['ä 2 ✓', '', undefined])
      assert.deepEqual(await db.keys().all(), ['a', 'b'])
      await db.close()
    })

    it('goes through batch() when a prewrite hook is installed, so that the hook sees every operation', async () => {
      const db = await openDb()
      const seen: string[] = []
      db.hooks.prewrite.add((op) => { seen.push(`${op.type}:${String(op.key)}`) })
      await writeBatch(db, [{ type: 'put', key: 'a', value: '1' }, { type: 'del', key: 'b' }], false)
      assert.deepEqual(seen, ['put:a', 'del:b'])
      assert.equal(await db.get('a'), '1')
      await db.close()
    })

    it('refuses a batch with a malformed operation and writes none of it', async () => {
      const db = await openDb()
      await assert.rejects(writeBatch(db, [{ type: 'put', key: 'a', value: '1' }, { type: 'put', key: 'b', value: 2 as unknown as string }], false), /operation 1: the value must be a string/)
      await assert.rejects(writeBatch(db, [{ type: 'put', key: 'a', value: '1' }, { type: 'del', key: '' }], false), /operation 1: the key/)
      assert.equal(await db.get('a'), undefined)
      await db.close()
    })

    it('on a closed database, fails as LevelDB does', async () => {
      const db = await openDb()
      await db.close()
      await assert.rejects(writeBatch(db, [{ type: 'put', key: 'a', value: '1' }], false), /not open/)
    })
  })
  it('publishes a group whose numbers are reserved while it is written, and answers only once it is fsynced', async () => {
    const db = new Level<string, string>(join(await tempDir(), 'db'), { valueEncoding: 'utf8' })
    await db.open()
    const trace: string[] = []
    const batch = (db as unknown as { _batch: (ops: Array<{ key: string }>, opts: { sync: boolean }) => Promise<void> })._batch.bind(db)
    ;(db as unknown as { _batch: typeof batch })._batch = async (ops, opts) => { trace.push(`write ${ops.map(o => o.key).join('+')} sync=${String(opts.sync)}`); await batch(ops, opts) }
    let early = true
    const writer = new BatchWriter<number>(db, {
      sync: true,
      hooks: {
        seal: (changes) => ({
          items: [{ op: { type: 'put', key: `log${changes[0].n}`, value: 'env' }, detail: changes[0].n }],
          early,
          durable: () => { trace.push('durable') }
        }),
        sealed: (n) => { trace.push(`publish ${n}`) }
      }
    })
    const local = (n: number): Change[] => [{ id: 'urn:x', o: 'domain-a', n, h: `00000000000${n}-00000` }]
    await writer.write([{ type: 'put', key: 'x', value: '1' }], local(1)).then(() => { trace.push('answered') })
    assert.deepEqual(trace, ['write x+log1 sync=true', 'publish 1', 'durable', 'answered'], 'handed to LevelDB, published while it writes and fsyncs, answered once it is on disk')
    trace.length = 0
    early = false
    await writer.write([{ type: 'put', key: 'y', value: '1' }], local(2)).then(() => { trace.push('answered') })
    assert.deepEqual(trace, ['write y+log2 sync=true', 'durable', 'publish 2', 'answered'], 'not reserved: fsynced before it is published')
    assert.deepEqual(await db.getMany(['x', 'log1', 'y', 'log2']), ['1', 'env', '1', 'env'])
    await db.close()
  })
})

import { strict as assert } from 'node:assert'
import { coreContext } from '../../../src/ngsi/context/index.ts'
import {
  changeFacts, compileSubscription, parseSubscription, SubscriptionIndex, triggerOf, type CompiledSubscription
} from '../../../src/ngsi/subscriptions/index.ts'
import { DEFAULT_VOCAB, type Attribute, type Entity } from '../../../src/ngsi/types.ts'

const V = (t: string): string => DEFAULT_VOCAB + t
const at = (ms: number): string => new Date(1_800_000_000_000 + ms).toISOString()
const prop = (value: unknown, ms: number, datasetId?: string): Attribute => ({ type: 'Property', value, modifiedAt: at(ms), writer: 'a', ...(datasetId != null ? { datasetId } : {}) })

function room (attrs: Record<string, Attribute[]>, type = 'Room'): Entity {
  return { id: 'urn:ngsi-ld:Room:1', type: [V(type)], attrs }
}

function compiled (body: Record<string, unknown>): CompiledSubscription {
  return compileSubscription(parseSubscription({ type: 'Subscription', notification: { endpoint: { uri: 'http://127.0.0.1:9/n' } }, ...body }, coreContext()))
}

describe('ngsi subscriptions: matching', () => {
  describe('changeFacts', () => {
    it('classifies creation, deletion and attribute-level changes', () => {
      const before = room({ [V('a')]: [prop(1, 1)], [V('b')]: [prop(2, 1)], [V('c')]: [prop(3, 1)], [V('m')]: [prop(1, 1), prop(2, 1, 'urn:d:1')] })
      const after = room({ [V('a')]: [prop(1, 1)], [V('b')]: [prop(5, 2)], [V('d')]: [prop(4, 2)], [V('m')]: [prop(1, 1), prop(9, 2, 'urn:d:2')] })
      const f = changeFacts(before, after)
      assert.equal(f?.kind, 'updated')
      assert.deepEqual([...f?.attrsCreated ?? []].sort(), [V('d'), V('m')], 'a new attribute, a new instance')
      assert.deepEqual([...f?.attrsUpdated ?? []], [V('b')])
      assert.deepEqual([...f?.attrsDeleted ?? []].sort(), [V('c'), V('m')], 'a removed attribute, a removed instance')
      assert.equal(changeFacts(null, after)?.kind, 'created')
      assert.deepEqual([...changeFacts(null, after)?.attrsCreated ?? []].length, 4)
      assert.equal(changeFacts(before, null)?.kind, 'deleted')
      assert.equal(changeFacts(before, null)?.entity, before)
      assert.equal(changeFacts(null, null), null)
    })

    it('a local rewrite counts as an update even when nothing visible changed', () => {
      const e = room({ [V('a')]: [prop(1, 1)] })
      assert.equal(changeFacts(e, room({ [V('a')]: [prop(1, 1)] }))?.attrsUpdated.size, 0)
      assert.deepEqual([...changeFacts(e, room({ [V('a')]: [prop(1, 1)] }), new Set([V('a')]))?.attrsUpdated ?? []], [V('a')])
    })
  })

  describe('triggerOf', () => {
    const before = room({ [V('temperature')]: [prop(20, 1)], [V('name')]: [prop('x', 1)] })
    const renamed = room({ [V('temperature')]: [prop(20, 1)], [V('name')]: [prop('y', 2)] })
    const created = changeFacts(null, before)
    const update = changeFacts(before, renamed)
    const removed = changeFacts(before, room({ [V('temperature')]: [prop(20, 1)] }))
    const deleted = changeFacts(before, null)
    if (created == null || update == null || removed == null || deleted == null) throw new Error('facts')

    const table: Array<[string, Record<string, unknown>, Array<string | null>]> = [
      // [name, subscription members, expected trigger for: created, update, removed, deleted]
      ['default triggers', {}, ['attributeCreated', 'attributeUpdated', null, null]],
      ['entityCreated/entityDeleted', { notificationTrigger: ['entityCreated', 'entityDeleted'] }, ['entityCreated', null, null, 'entityDeleted']],
      ['entityUpdated', { notificationTrigger: ['entityUpdated'] }, ['attributeCreated', 'attributeUpdated', 'attributeDeleted', null]],
      ['watched temperature', { watchedAttributes: ['temperature'] }, ['attributeCreated', null, null, null]],
      ['watched name, all triggers', { watchedAttributes: ['name'], notificationTrigger: ['entityCreated', 'entityUpdated', 'entityDeleted'] }, ['entityCreated', 'attributeUpdated', 'attributeDeleted', 'entityDeleted']],
      ['watched other, entity triggers', { watchedAttributes: ['other'], notificationTrigger: ['entityCreated', 'entityDeleted'] }, [null, null, null, null]]
    ]
    for (const [name, body, expected] of table) {
      it(name, () => {
        const sub = compiled({ entities: [{ type: 'Room' }], ...body })
        assert.deepEqual([created, update, removed, deleted].map(f => triggerOf(sub, f)), expected)
      })
    }
  })

  describe('compiled filters', () => {
    it('selectors: type selector, id before idPattern; q and geoQ on the entity', () => {
      const sub = compiled({
        entities: [{ type: 'Room;Office', idPattern: '^urn:ngsi-ld:Room:' }, { type: 'Car', id: 'urn:ngsi-ld:Car:1', idPattern: 'never' }],
        q: 'temperature>20',
        geoQ: { geometry: 'Point', coordinates: [0, 0], georel: 'near;maxDistance==1000' }
      })
      const e = (id: string, types: string[], t: number, lon: number): Entity => ({
        id,
        type: types.map(V),
        attrs: { [V('temperature')]: [prop(t, 1)], 'https://uri.etsi.org/ngsi-ld/location': [{ type: 'GeoProperty', value: { type: 'Point', coordinates: [lon, 0] } }] }
      })
      assert.ok(sub.selects(e('urn:ngsi-ld:Room:1', ['Room', 'Office'], 25, 0)))
      assert.ok(!sub.selects(e('urn:ngsi-ld:Room:1', ['Room'], 25, 0)), 'both types needed')
      assert.ok(!sub.selects(e('urn:ngsi-ld:Room:1', ['Room', 'Office'], 15, 0)), 'q')
      assert.ok(!sub.selects(e('urn:ngsi-ld:Room:1', ['Room', 'Office'], 25, 1)), 'geoQ')
      assert.ok(sub.selects(e('urn:ngsi-ld:Car:1', ['Car'], 25, 0)), 'id wins over idPattern')
      assert.ok(!sub.selects(e('urn:ngsi-ld:Car:2', ['Car'], 25, 0)))
      // index keys: one type of the AND (an entity needs both, so either narrows enough), and Car
      assert.equal(sub.types?.length, 2)
      assert.ok(sub.types?.includes(V('Car')) === true && (sub.types.includes(V('Room')) || sub.types.includes(V('Office'))))
    })

    it('q is stored with the expansion of its terms and binds again without the @context', () => {
      const rec = parseSubscription({
        type: 'Subscription',
        entities: [{ type: 'Room' }],
        q: 'ex:temp>20;name=="x"',
        notification: { endpoint: { uri: 'http://127.0.0.1:9/n' } }
      }, coreContext())
      assert.equal(rec.q, 'ex:temp>20;name=="x"')
      assert.equal(rec.qTerms?.name, V('name'))
      const back = compileSubscription(JSON.parse(JSON.stringify(rec)))
      assert.ok(back.selects({ id: 'urn:x', type: [V('Room')], attrs: { 'ex:temp': [prop(21, 1)], [V('name')]: [prop('x', 1)] } }))
    })
  })

  describe('SubscriptionIndex', () => {
    it('finds candidates by type and, without selectors, by watched attribute; periodic ones are not indexed', () => {
      const index = new SubscriptionIndex<{ compiled: CompiledSubscription }>()
      const rooms = { compiled: compiled({ entities: [{ type: 'Room' }, { type: '(Office;Lab),Hall' }] }) }
      const pressure = { compiled: compiled({ watchedAttributes: ['pressure'] }) }
      const periodic = { compiled: compiled({ entities: [{ type: 'Room' }], timeInterval: 5 }) }
      for (const s of [rooms, pressure, periodic]) index.add(s)
      assert.equal(index.size, 2)
      assert.deepEqual([...index.candidates(null, room({}))], [rooms])
      assert.deepEqual([...index.candidates(room({}, 'Hall'), null)], [rooms])
      assert.deepEqual([...index.candidates(room({ [V('pressure')]: [prop(1, 1)] }, 'Boiler'), null)], [pressure])
      assert.equal(index.candidates(null, room({}, 'Car')).size, 0)
      index.remove(rooms)
      assert.equal(index.candidates(null, room({})).size, 0)
      assert.equal(index.size, 1)
    })
  })
})

import { strict as assert } from 'node:assert'
import { join } from 'node:path'
import { Level } from 'level'
import { pino } from 'pino'
import { EntityStore, DEFAULT_INSTANCE, type Change, type Envelope } from '../../src/ngsi/store/index.ts'
import { WritePolicy, DEFAULT_OWNED_TYPES, newPolicyBatch } from '../../src/ngsi/policy.ts'
import { DEFAULT_VOCAB } from '../../src/ngsi/types.ts'
import { cleanup, tempDir } from '../helpers/index.ts'

const IE = DEFAULT_VOCAB + 'InfrastructureElement'
const ROOM = 'https://example.org/Room'
const DOMAIN_REL = DEFAULT_VOCAB + 'domain'
const rel = (domain: string) => ({ type: 'Relationship' as const, object: `urn:ngsi-ld:Domain:${domain}` })
const prop = (value: unknown) => ({ type: 'Property' as const, value })

/** An envelope of changes from `origin` (sequence numbers from 1; the check does not look at them). */
function envelope (origin: string, changes: Array<Omit<Change, 'o' | 'n' | 'h'>>): Envelope {
  const c = changes.map((ch, i) => ({ ...ch, o: origin, n: i + 1, h: `${String(Date.now() * 1000).padStart(16, '0')}-0000${i}` }))
  return { o: origin, p: '', f: 1, t: c.length, c }
}

describe('ngsi write policy: checking received envelopes', () => {
  let store: EntityStore
  let policy: WritePolicy
  let reads: string[][]

  before(async () => {
    const db = new Level<string, string>(join(await tempDir(), 'db'), { valueEncoding: 'utf8' })
    await db.open()
    store = new EntityStore({ db, log: pino({ level: 'silent' }) }, { domain: 'domain-a', cacheSize: 10 })
    await store.start()
    policy = new WritePolicy(store, { domain: 'domain-a', ownedTypes: DEFAULT_OWNED_TYPES.map(t => DEFAULT_VOCAB + t) })
    await store.mutate('urn:ngsi-ld:InfrastructureElement:a1', () => ({ create: true, types: [IE], attrs: [[DOMAIN_REL, DEFAULT_INSTANCE, rel('domain-a')], [DEFAULT_VOCAB + 'cpuCores', DEFAULT_INSTANCE, prop(4)]] }))
    await store.mutate('urn:ngsi-ld:Room:r1', () => ({ create: true, types: [ROOM], attrs: [['https://example.org/temperature', DEFAULT_INSTANCE, prop(20)]] }))
    const getMany = store.getMany.bind(store)
    store.getMany = async (ids) => { reads.push([...ids]); return await getMany(ids) }
  })
  beforeEach(() => { reads = [] })
  after(cleanup)

  it('refuses a change to an owned entity by another domain, even when the change names no type', async () => {
    const refused = await policy.checkEnvelope(envelope('domain-b', [{ id: 'urn:ngsi-ld:InfrastructureElement:a1', a: [[DEFAULT_VOCAB + 'cpuCores', DEFAULT_INSTANCE, prop(64)]] }]))
    assert.match(String(refused), /domain-b may not write urn:ngsi-ld:InfrastructureElement:a1, which belongs to domain-a/)
  })

  it('refuses a change that gives an entity of an owned type to another domain', async () => {
    const refused = await policy.checkEnvelope(envelope('domain-b', [{ id: 'urn:ngsi-ld:InfrastructureElement:b9', c: 1, t: [IE], a: [[DOMAIN_REL, DEFAULT_INSTANCE, rel('domain-c')]] }]))
    assert.match(String(refused), /may not assign urn:ngsi-ld:InfrastructureElement:b9 to domain domain-c/)
  })

  it('accepts changes to entities of no owned type without reading them; reads only the owned ones', async () => {
    assert.equal(await policy.checkEnvelope(envelope('domain-b', [
      { id: 'urn:ngsi-ld:Room:r1', a: [['https://example.org/temperature', DEFAULT_INSTANCE, prop(30)]] },
      { id: 'urn:ngsi-ld:Room:r2', c: 1, t: [ROOM] }
    ])), null)
    assert.deepEqual(reads, [], 'nothing read for rooms')
    assert.equal(await policy.checkEnvelope(envelope('domain-a', [
      { id: 'urn:ngsi-ld:Room:r1', a: [['https://example.org/temperature', DEFAULT_INSTANCE, prop(31)]] },
      { id: 'urn:ngsi-ld:InfrastructureElement:a1', a: [[DEFAULT_VOCAB + 'cpuCores', DEFAULT_INSTANCE, prop(8)]] }
    ])), null, 'the owner may write its own entity')
    assert.deepEqual(reads, [['urn:ngsi-ld:InfrastructureElement:a1']])
  })

  it('a room that becomes an owned type is judged as one', async () => {
    const refused = await policy.checkEnvelope(envelope('domain-b', [{ id: 'urn:ngsi-ld:Room:r1', t: [IE], a: [[DOMAIN_REL, DEFAULT_INSTANCE, rel('domain-c')]] }]))
    assert.match(String(refused), /may not assign urn:ngsi-ld:Room:r1 to domain domain-c/)
  })
  describe('changes to entities this domain does not hold yet', () => {
    const cores = (n: number) => [[DEFAULT_VOCAB + 'cpuCores', DEFAULT_INSTANCE, prop(n)]] as Change['a']
    const newIe = 'urn:ngsi-ld:InfrastructureElement:a-new'

    it('a change that does not create its entity waits for it; without waiting it is judged as things stand', async () => {
      const env = envelope('domain-b', [{ id: newIe, a: cores(1) }, { id: 'urn:ngsi-ld:Room:r1', a: [['https://example.org/temperature', DEFAULT_INSTANCE, prop(1)]] }])
      assert.deepEqual(await policy.checkEnvelope(env), { waitFor: [newIe] })
      assert.equal(await policy.checkEnvelope(env, { wait: false }), null, 'an entity of no known type is anyone\'s')
    })

    it('this domain\'s own changes (coming back after an unclean shutdown) never wait', async () => {
      assert.equal(await policy.checkEnvelope(envelope('domain-a', [{ id: newIe, a: cores(5) }])), null)
    })

    it('a change to an entity created earlier in the same envelope does not wait', async () => {
      assert.equal(await policy.checkEnvelope(envelope('domain-b', [{ id: 'urn:ngsi-ld:Room:fresh', c: 1, t: [ROOM] }, { id: 'urn:ngsi-ld:Room:fresh', a: cores(2) }])), null)
    })

    it('in one message or frame, a change is judged against what an earlier envelope creates: a relayed creation cannot carry a forged write behind it', async () => {
      const batch = newPolicyBatch()
      assert.equal(await policy.checkEnvelope(envelope('domain-c', [{ id: newIe, c: 1, t: [IE], a: [[DOMAIN_REL, DEFAULT_INSTANCE, rel('domain-c')]] }]), { batch }), null)
      assert.match(String(await policy.checkEnvelope(envelope('domain-b', [{ id: newIe, a: cores(64) }]), { batch })), /domain-b may not write urn:ngsi-ld:InfrastructureElement:a-new, which belongs to domain-c/)
      assert.equal(await policy.checkEnvelope(envelope('domain-c', [{ id: newIe, a: cores(8) }]), { batch }), null, 'its owner may')
      // A refused envelope creates nothing for the rest of the batch.
      const other = newPolicyBatch()
      assert.match(String(await policy.checkEnvelope(envelope('domain-b', [{ id: 'urn:ngsi-ld:Room:x', c: 1, t: [IE], a: [[DOMAIN_REL, DEFAULT_INSTANCE, rel('domain-c')]] }]), { batch: other })), /may not assign/)
      assert.deepEqual(await policy.checkEnvelope(envelope('domain-b', [{ id: 'urn:ngsi-ld:Room:x', a: cores(1) }]), { batch: other }), { waitFor: ['urn:ngsi-ld:Room:x'] })
    })

    it('a deleted entity is held (its tombstone): a change to it does not wait', async () => {
      await store.mutate('urn:ngsi-ld:Room:gone', () => ({ create: true, types: [ROOM] }))
      await store.mutate('urn:ngsi-ld:Room:gone', () => ({ deleteEntity: true }))
      assert.equal(store.holds('urn:ngsi-ld:Room:gone'), false)
      assert.equal(await policy.checkEnvelope(envelope('domain-b', [{ id: 'urn:ngsi-ld:Room:gone', a: cores(3) }])), null)
    })
  })

  describe('with replication.ownerInId: ids of owned types that name a domain', () => {
    let byId: WritePolicy
    const named = 'urn:ngsi-ld:InfrastructureElement:domain-a:node-7'
    before(() => { byId = new WritePolicy(store, { domain: 'domain-a', ownedTypes: DEFAULT_OWNED_TYPES.map(t => DEFAULT_VOCAB + t), ownerInId: true }) })

    it('reads the owner from the id (aerOS form), for the owned types only', () => {
      assert.equal(byId.idNamedOwner(named), 'domain-a')
      assert.equal(byId.idNamedOwner('urn:ngsi-ld:LowLevelOrchestrator:edge-1:k8s'), 'edge-1')
      assert.equal(byId.idNamedOwner('urn:ngsi-ld:InfrastructureElement:solo'), null, 'no local part')
      assert.equal(byId.idNamedOwner('urn:ngsi-ld:InfrastructureElement::x'), null, 'empty domain')
      assert.equal(byId.idNamedOwner('urn:ngsi-ld:Room:domain-a:1'), null, 'not an owned type')
      assert.equal(policy.idNamedOwner(named), null, 'off by default')
    })

    it('refuses another domain\'s change to such an entity at once, held here or not, even a creation that claims it', async () => {
      assert.equal(store.holds(named), false)
      assert.match(String(await byId.checkEnvelope(envelope('domain-b', [{ id: named, a: [[DEFAULT_VOCAB + 'cpuCores', DEFAULT_INSTANCE, prop(1)]] }]))), /domain-b may not write .*node-7, which belongs to domain-a \(its id names it\)/)
      // The race the id closes: a member that creates the entity before the owner's creation arrives.
      assert.match(String(await byId.checkEnvelope(envelope('domain-b', [{ id: named, c: 1, t: [IE], a: [[DOMAIN_REL, DEFAULT_INSTANCE, rel('domain-b')]] }]))), /belongs to domain-a/)
      assert.match(String(await byId.checkEnvelope(envelope('domain-b', [{ id: named, c: 1, t: [ROOM] }]))), /belongs to domain-a/, 'whatever type it claims')
    })

    it('accepts the named domain\'s own changes without waiting, but not one that points the entity elsewhere', async () => {
      assert.equal(await byId.checkEnvelope(envelope('domain-a', [{ id: named, a: [[DEFAULT_VOCAB + 'cpuCores', DEFAULT_INSTANCE, prop(2)]] }])), null)
      assert.equal(await byId.checkEnvelope(envelope('domain-a', [{ id: named, c: 1, t: [IE], a: [[DOMAIN_REL, DEFAULT_INSTANCE, rel('domain-a')]] }])), null)
      assert.match(String(await byId.checkEnvelope(envelope('domain-a', [{ id: named, c: 1, t: [IE], a: [[DOMAIN_REL, DEFAULT_INSTANCE, rel('domain-c')]] }]))), /may not assign .* to domain domain-c/)
      assert.deepEqual(await byId.checkEnvelope(envelope('domain-b', [{ id: 'urn:ngsi-ld:InfrastructureElement:solo', a: [] }])), { waitFor: ['urn:ngsi-ld:InfrastructureElement:solo'] }, 'other ids: as before')
    })

    it('sends API writes to the named domain, and refuses one that would point the entity at another', async () => {
      assert.equal(await byId.ownerForWrite('urn:ngsi-ld:InfrastructureElement:domain-c:x'), 'domain-c', 'not held here: the id says')
      assert.equal(await byId.ownerForWrite(named, { id: named, type: [IE], attrs: { [DOMAIN_REL]: [rel('domain-a')] } }), null, 'ours')
      await assert.rejects(byId.ownerForWrite(named, { id: named, type: [IE], attrs: { [DOMAIN_REL]: [rel('domain-c')] } }), (err: Error & { type?: string }) => err.name === 'BadRequestDataError' && /belongs to domain domain-a/.test(err.message))
    })
  })
})

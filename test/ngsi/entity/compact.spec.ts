import { strict as assert } from 'node:assert'
import { compileInlineContext, coreContext, type CompiledContext } from '../../../src/ngsi/context/index.ts'
import { compactEntity, expandEntity, toFeatureCollection, toGeoJsonFeature } from '../../../src/ngsi/entity/index.ts'
import type { Entity, Format, RenderOptions } from '../../../src/ngsi/types.ts'

const NGSI = 'https://uri.etsi.org/ngsi-ld/'
const D = 'https://uri.etsi.org/ngsi-ld/default-context/'
const AEROS = 'https://w3id.org/aerOS/continuum#'
const ID = 'urn:ngsi-ld:Thing:1'
const POINT = { type: 'Point', coordinates: [2.35, 48.85] }
const AREA = { type: 'Polygon', coordinates: [[[0, 0], [1, 0], [1, 1], [0, 0]]] }
const core = coreContext()

const aerosContext = compileInlineContext({
  aeros: AEROS,
  InfrastructureElement: 'aeros:InfrastructureElement',
  Domain: 'aeros:Domain',
  domain: { '@id': 'aeros:domain', '@type': '@id' },
  lowLevelOrchestrator: { '@id': 'aeros:lowLevelOrchestrator', '@type': '@id' },
  cpuCores: 'aeros:cpuCores',
  ramCapacity: 'aeros:ramCapacity',
  hostname: 'aeros:hostname',
  cpuArchitecture: { '@id': 'aeros:cpuArchitecture', '@type': '@vocab' },
  infrastructureElementStatus: 'aeros:infrastructureElementStatus',
  trustScore: 'aeros:trustScore',
  AMD64: 'aeros:AMD64'
})

/** Every attribute kind, multi-instance attributes and sub-attributes, in normalized form. */
const richNormalized = {
  id: ID,
  type: ['Thing', 'Device'],
  scope: '/site/a',
  temperature: [
    { type: 'Property', value: 21, unitCode: 'CEL' },
    { type: 'Property', value: 20, datasetId: 'urn:ds:raw', observedAt: '2024-05-01T10:00:00Z', accuracy: { type: 'Property', value: 0.5 } }
  ],
  label: { type: 'Property', value: 'plain' },
  tags: { type: 'Property', value: ['a', 'b'] },
  config: { type: 'Property', value: { nested: true } },
  isIn: { type: 'Relationship', object: 'urn:ngsi-ld:Building:7', since: { type: 'Property', value: '2020' } },
  location: { type: 'GeoProperty', value: POINT },
  observationSpace: { type: 'GeoProperty', value: AREA, observedAt: '2024-05-01T10:00:00Z' },
  footprint: { type: 'GeoProperty', value: AREA },
  coverage: { type: 'GeoProperty', value: AREA, datasetId: 'urn:ds:c' },
  name: { type: 'LanguageProperty', languageMap: { en: 'sensor', fr: 'capteur', '@none': 'sensorium' } },
  category: { type: 'VocabProperty', vocab: ['Edge', 'ngsi-ld:Cloud'] },
  raw: { type: 'JsonProperty', json: { type: 'Feature', value: [1, 2] } },
  readings: { type: 'ListProperty', valueList: [1, 2, 3] },
  path: { type: 'ListRelationship', objectList: [{ object: 'urn:a:1' }, { object: 'urn:a:2' }] }
}

function render (e: Entity, format: Format, extra: Partial<RenderOptions> = {}, ctx: CompiledContext = core): Record<string, unknown> {
  return compactEntity(e, ctx, { format, sysAttrs: false, ...extra })
}

describe('ngsi/entity compact', () => {
  const rich = expandEntity(richNormalized, core, { requireType: true })

  it('renders the normalized form exactly as it came in', () => {
    assert.deepEqual(render(rich, 'normalized'), richNormalized)
  })

  it('renders the concise form', () => {
    assert.deepEqual(render(rich, 'concise'), {
      id: ID,
      type: ['Thing', 'Device'],
      scope: '/site/a',
      temperature: [
        { value: 21, unitCode: 'CEL' },
        { value: 20, datasetId: 'urn:ds:raw', observedAt: '2024-05-01T10:00:00Z', accuracy: 0.5 }
      ],
      label: 'plain',
      tags: ['a', 'b'],
      config: { value: { nested: true } },
      isIn: { object: 'urn:ngsi-ld:Building:7', since: '2020' },
      location: POINT,
      observationSpace: { value: AREA, observedAt: '2024-05-01T10:00:00Z' },
      footprint: AREA,
      coverage: { type: 'GeoProperty', value: AREA, datasetId: 'urn:ds:c' },
      name: { languageMap: { en: 'sensor', fr: 'capteur', '@none': 'sensorium' } },
      category: { vocab: ['Edge', 'ngsi-ld:Cloud'] },
      raw: { json: { type: 'Feature', value: [1, 2] } },
      readings: { valueList: [1, 2, 3] },
      path: { objectList: [{ object: 'urn:a:1' }, { object: 'urn:a:2' }] }
    })
  })

  it('renders keyValues', () => {
    assert.deepEqual(render(rich, 'keyValues'), {
      id: ID,
      type: ['Thing', 'Device'],
      scope: '/site/a',
      temperature: [21, 20],
      label: 'plain',
      tags: ['a', 'b'],
      config: { nested: true },
      isIn: 'urn:ngsi-ld:Building:7',
      location: POINT,
      observationSpace: AREA,
      footprint: AREA,
      coverage: AREA,
      name: { en: 'sensor', fr: 'capteur', '@none': 'sensorium' },
      category: ['Edge', 'ngsi-ld:Cloud'],
      raw: { type: 'Feature', value: [1, 2] },
      readings: [1, 2, 3],
      path: ['urn:a:1', 'urn:a:2']
    })
  })

  for (const format of ['normalized', 'concise'] as const) {
    it(`round-trips expand → compact (${format}) → expand without loss`, () => {
      const again = expandEntity(render(rich, format), core, { requireType: true })
      assert.deepEqual(again, rich)
    })
  }

  it('keeps the type of a Property whose geometry value would read back as a GeoProperty', () => {
    const e: Entity = { id: ID, type: [D + 'T'], attrs: { [NGSI + 'location']: [{ type: 'Property', value: POINT, observedAt: '2024-01-01T00:00:00Z' }] } }
    const concise = render(e, 'concise')
    assert.deepEqual(concise.location, { type: 'Property', value: POINT, observedAt: '2024-01-01T00:00:00Z' })
    assert.deepEqual(expandEntity(concise, core, { requireType: true }), e)
  })

  it('renders a Property with an NGSI-LD-looking object value with its value member', () => {
    const e = expandEntity({ id: ID, type: 'T', odd: { value: { object: 'urn:x:1' } }, list: { value: [{ value: 1 }] } }, core, { requireType: true })
    const concise = render(e, 'concise')
    assert.deepEqual(concise.odd, { value: { object: 'urn:x:1' } })
    assert.deepEqual(concise.list, { value: [{ value: 1 }] })
    assert.deepEqual(expandEntity(concise, core, { requireType: true }), e)
  })

  describe('sysAttrs', () => {
    const e: Entity = {
      id: ID,
      type: [D + 'T'],
      createdAt: '2024-01-01T00:00:00.000Z',
      modifiedAt: '2024-01-02T00:00:00.000Z',
      owner: 'domain-a',
      attrs: {
        [D + 'p']: [{
          type: 'Property',
          value: 1,
          createdAt: '2024-01-01T00:00:00.000Z',
          modifiedAt: '2024-01-02T00:00:00.000Z',
          writer: 'domain-b',
          sub: { [D + 's']: { type: 'Property', value: 2, createdAt: '2024-01-01T00:00:00.000Z' } }
        }]
      }
    }

    it('adds createdAt/modifiedAt and ownerDomain/writerDomain when asked', () => {
      assert.deepEqual(compactEntity(e, core, { format: 'normalized', sysAttrs: true }), {
        id: ID,
        type: 'T',
        createdAt: '2024-01-01T00:00:00.000Z',
        modifiedAt: '2024-01-02T00:00:00.000Z',
        ownerDomain: 'domain-a',
        p: {
          type: 'Property',
          value: 1,
          createdAt: '2024-01-01T00:00:00.000Z',
          modifiedAt: '2024-01-02T00:00:00.000Z',
          writerDomain: 'domain-b',
          s: { type: 'Property', value: 2, createdAt: '2024-01-01T00:00:00.000Z' }
        }
      })
      assert.deepEqual(compactEntity(e, core, { format: 'keyValues', sysAttrs: true }), {
        id: ID, type: 'T', createdAt: '2024-01-01T00:00:00.000Z', modifiedAt: '2024-01-02T00:00:00.000Z', ownerDomain: 'domain-a', p: 1
      })
      assert.deepEqual(compactEntity(e, core, { format: 'concise', sysAttrs: false }), { id: ID, type: 'T', p: { value: 1, s: 2 } })
    })

    it('ignores createdAt/modifiedAt read back but refuses the federation members', () => {
      const out = compactEntity(e, core, { format: 'normalized', sysAttrs: true })
      assert.throws(() => expandEntity(out, core, { requireType: true }), /ownerDomain is set by the system/)
      const { ownerDomain: _o, ...rest } = out
      const { writerDomain: _w, ...p } = rest.p as Record<string, unknown>
      const back = expandEntity({ ...rest, p }, core, { requireType: true }).attrs
      assert.deepEqual(back, { [D + 'p']: [{ type: 'Property', value: 1, sub: { [D + 's']: { type: 'Property', value: 2 } } }] })
    })
  })

  describe('projections', () => {
    const cases: Array<[string, Partial<RenderOptions>, string[]]> = [
      ['attrs', { attrs: new Set([D + 'label', NGSI + 'location']) }, ['id', 'type', 'scope', 'label', 'location']],
      ['pick of attributes only', { pick: new Set([D + 'label']) }, ['label']],
      ['pick of id, type and attributes', { pick: new Set(['id', 'type', D + 'label']) }, ['id', 'type', 'label']],
      ['pick with expanded keywords', { pick: new Set(['@id', '@type']) }, ['id', 'type']],
      ['omit of id and attributes', { omit: new Set(['id', D + 'temperature', D + 'name']) }, Object.keys(richNormalized).filter(k => !['id', 'temperature', 'name'].includes(k))],
      ['omit of type and scope', { omit: new Set(['type', 'scope']) }, Object.keys(richNormalized).filter(k => k !== 'type' && k !== 'scope')],
      ['attrs with pick', { attrs: new Set([D + 'label', D + 'tags']), pick: new Set(['id', D + 'tags']) }, ['id', 'tags']]
    ]
    for (const [what, extra, keys] of cases) {
      it(`applies ${what}`, () => { assert.deepEqual(Object.keys(render(rich, 'normalized', extra)), keys) })
    }
  })

  describe('lang (4.15)', () => {
    const cases: Array<[string, string, string]> = [
      ['fr', 'capteur', 'fr'],
      ['FR', 'capteur', 'fr'],
      ['fr-CH', 'capteur', 'fr'],
      ['de', 'sensorium', '@none'],
      ['de,en;q=0.5', 'sensor', 'en'],
      ['en;q=0.2,fr;q=0.9', 'capteur', 'fr'],
      ['*', 'sensorium', '@none']
    ]
    for (const [lang, value, tag] of cases) {
      it(`renders lang=${lang} as a Property in ${tag}`, () => {
        assert.deepEqual(render(rich, 'normalized', { lang }).name, { type: 'Property', value, lang: tag })
        assert.deepEqual(render(rich, 'concise', { lang }).name, { value, lang: tag })
        assert.equal(render(rich, 'keyValues', { lang }).name, value)
      })
    }

    it('falls back to any language when neither the tag nor @none exists', () => {
      const e = expandEntity({ id: ID, type: 'T', n: { languageMap: { es: 'gato', it: 'gatto' } } }, core, { requireType: true })
      assert.deepEqual(render(e, 'normalized', { lang: 'ja' }).n, { type: 'Property', value: 'gato', lang: 'es' })
    })

    it('reads a lang-rendered attribute back as a Property', () => {
      const e = expandEntity({ id: ID, type: 'T', n: { languageMap: { en: 'cat' } } }, core, { requireType: true })
      const back = expandEntity(render(e, 'concise', { lang: 'en' }), core, { requireType: true })
      assert.deepEqual(back.attrs[D + 'n'], [{ type: 'Property', value: 'cat' }])
    })
  })

  describe('GeoJSON', () => {
    it('renders a Feature with the location geometry and the entity as properties', () => {
      const f = toGeoJsonFeature(rich, core, { format: 'keyValues', sysAttrs: false })
      assert.equal(f.id, ID)
      assert.equal(f.type, 'Feature')
      assert.deepEqual(f.geometry, POINT)
      assert.equal(f.properties.id, undefined)
      assert.deepEqual(f.properties.type, ['Thing', 'Device'])
      assert.deepEqual(f.properties.location, POINT)
      assert.equal(f.properties.label, 'plain')
    })

    it('takes the geometry from geometryProperty, as a term or an IRI, and null without one', () => {
      const opts: RenderOptions = { format: 'normalized', sysAttrs: false }
      assert.deepEqual(toGeoJsonFeature(rich, core, opts, 'footprint').geometry, AREA)
      assert.deepEqual(toGeoJsonFeature(rich, core, opts, NGSI + 'observationSpace').geometry, AREA)
      assert.equal(toGeoJsonFeature(rich, core, opts, 'label').geometry, null, 'not a GeoProperty')
      const plain = expandEntity({ id: 'urn:x:2', type: 'T', a: 1 }, core, { requireType: true })
      const fc = toFeatureCollection([rich, plain], core, opts)
      assert.equal(fc.type, 'FeatureCollection')
      assert.deepEqual(fc.features.map(x => [x.id, x.geometry]), [[ID, POINT], ['urn:x:2', null]])
      assert.deepEqual(fc.features[1]?.properties, { type: 'T', a: { type: 'Property', value: 1 } })
    })
  })

  describe('aerOS entities', () => {
    const ie = {
      id: 'urn:ngsi-ld:InfrastructureElement:DomainA:0242ac120002',
      type: 'InfrastructureElement',
      domain: { type: 'Relationship', object: 'urn:ngsi-ld:Domain:DomainA' },
      lowLevelOrchestrator: { type: 'Relationship', object: 'urn:ngsi-ld:LowLevelOrchestrator:DomainA:k8s' },
      hostname: { type: 'Property', value: 'edge-node-1' },
      cpuCores: { type: 'Property', value: 8 },
      ramCapacity: { type: 'Property', value: 16384, unitCode: 'M4' },
      cpuArchitecture: { type: 'VocabProperty', vocab: 'AMD64' },
      infrastructureElementStatus: { type: 'Property', value: 'Ready', observedAt: '2024-05-01T10:00:00Z' },
      trustScore: { type: 'Property', value: 0.82 },
      location: { type: 'GeoProperty', value: { type: 'Point', coordinates: [-3.7038, 40.4168] } }
    }
    const domain = {
      id: 'urn:ngsi-ld:Domain:DomainA',
      type: 'Domain',
      publicUrl: { type: 'Property', value: 'https://domain-a.example' },
      isEntrypoint: { type: 'Property', value: true },
      domainStatus: { type: 'Property', value: 'Functional' },
      owner: { type: 'Relationship', object: ['urn:ngsi-ld:Organization:A', 'urn:ngsi-ld:Organization:B'] }
    }

    for (const [what, body] of [['an InfrastructureElement', ie], ['a Domain', domain]] as const) {
      for (const ctx of [aerosContext, core]) {
        it(`round-trips ${what} unchanged (${ctx === core ? 'core context' : 'aerOS context'})`, () => {
          const e = expandEntity(body, ctx, { requireType: true })
          assert.deepEqual(compactEntity(e, ctx, { format: 'normalized', sysAttrs: false }), body)
          const concise = compactEntity(e, ctx, { format: 'concise', sysAttrs: false })
          assert.deepEqual(expandEntity(concise, ctx, { requireType: true }), e)
        })
      }
    }

    it('expands aerOS names into the aerOS namespace', () => {
      const e = expandEntity(ie, aerosContext, { requireType: true })
      assert.deepEqual(e.type, [AEROS + 'InfrastructureElement'])
      assert.deepEqual(e.attrs[AEROS + 'domain'], [{ type: 'Relationship', object: 'urn:ngsi-ld:Domain:DomainA' }])
      assert.deepEqual(e.attrs[AEROS + 'cpuArchitecture'], [{ type: 'VocabularyProperty', vocab: AEROS + 'AMD64' }])
      assert.deepEqual(e.attrs[NGSI + 'location']?.[0]?.type, 'GeoProperty')
      // the same entity read with the core context only gets other names, and compacts with them
      assert.deepEqual(Object.keys(render(e, 'keyValues', {}, core)).slice(0, 4), ['id', 'type', AEROS + 'domain', AEROS + 'lowLevelOrchestrator'])
    })
  })

  it('compacts fast (no per-call compilation)', function () {
    const e = expandEntity({ ...richNormalized, id: 'urn:x:fast' }, core, { requireType: true })
    const opts: RenderOptions = { format: 'normalized', sysAttrs: true }
    const n = 25_000
    const start = performance.now()
    for (let i = 0; i < n; i++) compactEntity(e, core, opts)
    const ms = performance.now() - start
    // the benchmark needs 25,000/s; allow a slow CI machine a wide margin
    assert.ok(ms < 5000, `${n} compactions took ${ms.toFixed(0)} ms`)
  })
})

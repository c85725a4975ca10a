import { strict as assert } from 'node:assert'
import { compileInlineContext, coreContext } from '../../../src/ngsi/context/index.ts'
import {
  applyDeletion, expandAttribute, expandAttributeFragment, expandAttributes, expandEntity, expandEntityPatch, mergeAttribute,
  removeFromAttribute
} from '../../../src/ngsi/entity/index.ts'
import { BadRequestDataError } from '../../../src/ngsi/errors.ts'
import type { Attribute, Entity } from '../../../src/ngsi/types.ts'

const NGSI = 'https://uri.etsi.org/ngsi-ld/'
const D = 'https://uri.etsi.org/ngsi-ld/default-context/'
const ID = 'urn:ngsi-ld:Thing:1'
const POINT = { type: 'Point', coordinates: [2.35, 48.85] }
const core = coreContext()

function badRequest (fn: () => unknown, fragment: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof BadRequestDataError, `expected BadRequestData, got ${String(err)}`)
    assert.equal(err.code, 'NGSI_BAD_REQUEST_DATA')
    assert.ok(err.message.includes(fragment), `"${err.message}" should contain "${fragment}"`)
    return true
  })
}

/** The instances of attribute `name` when `raw` is its only attribute. */
function attr (raw: unknown, name = 'a'): Attribute[] | undefined {
  return expandEntity({ id: ID, type: 'Thing', [name]: raw }, core, { requireType: true }).attrs[core.expandTerm(name)]
}

describe('ngsi/entity expand', () => {
  it('expands a normalized entity into the internal model', () => {
    const ctx = compileInlineContext({ ex: 'https://example.org/', temperature: 'ex:temperature', Room: 'ex:Room' })
    const e = expandEntity({
      '@context': 'ignored here',
      id: ID,
      type: 'Room',
      scope: '/building/floor1',
      createdAt: '2020-01-01T00:00:00Z',
      modifiedAt: '2020-01-01T00:00:00Z',
      temperature: {
        type: 'Property',
        value: 21.5,
        unitCode: 'CEL',
        observedAt: '2024-05-01T10:00:00.123Z',
        createdAt: '2020-01-01T00:00:00Z',
        accuracy: { type: 'Property', value: 0.2, calibratedBy: { type: 'Relationship', object: 'urn:ngsi-ld:Lab:9' } }
      },
      isIn: { type: 'Relationship', object: 'urn:ngsi-ld:Building:7' }
    }, ctx, { requireType: true })
    const expected: Entity = {
      id: ID,
      type: ['https://example.org/Room'],
      scope: ['/building/floor1'],
      attrs: {
        'https://example.org/temperature': [{
          type: 'Property',
          value: 21.5,
          unitCode: 'CEL',
          observedAt: '2024-05-01T10:00:00.123Z',
          sub: {
            [D + 'accuracy']: {
              type: 'Property',
              value: 0.2,
              sub: { [D + 'calibratedBy']: { type: 'Relationship', object: 'urn:ngsi-ld:Lab:9' } }
            }
          }
        }],
        [D + 'isIn']: [{ type: 'Relationship', object: 'urn:ngsi-ld:Building:7' }]
      }
    }
    assert.deepEqual(e, expected)
  })

  const shapes: Array<[string, unknown, Attribute[], string?]> = [
    ['a bare number (concise Property)', 42, [{ type: 'Property', value: 42 }]],
    ['a bare string', 'hello', [{ type: 'Property', value: 'hello' }]],
    ['a bare boolean', false, [{ type: 'Property', value: false }]],
    ['a bare array of values', [1, 2, 3], [{ type: 'Property', value: [1, 2, 3] }]],
    ['an empty array', [], [{ type: 'Property', value: [] }]],
    ['an array of plain objects (a value)', [{ x: 1 }], [{ type: 'Property', value: [{ x: 1 }] }]],
    ['{ value } (concise Property)', { value: { x: 1 } }, [{ type: 'Property', value: { x: 1 } }]],
    ['{ object } (concise Relationship)', { object: 'urn:a:1' }, [{ type: 'Relationship', object: 'urn:a:1' }]],
    ['{ object: [...] } (multiple targets)', { object: ['urn:a:1', 'urn:a:2'] }, [{ type: 'Relationship', object: ['urn:a:1', 'urn:a:2'] }]],
    ['{ languageMap }', { languageMap: { en: 'cat', fr: 'chat', '@none': 'gato' } },
      [{ type: 'LanguageProperty', languageMap: { en: 'cat', fr: 'chat', '@none': 'gato' } }]],
    ['{ vocab } expanded', { vocab: 'Edge' }, [{ type: 'VocabularyProperty', vocab: D + 'Edge' }]],
    ['{ vocab: [...] }', { vocab: ['Edge', 'ngsi-ld:Cloud'] }, [{ type: 'VocabularyProperty', vocab: [D + 'Edge', NGSI + 'Cloud'] }]],
    ['{ json } (never expanded)', { json: { type: 'x', value: [1] } }, [{ type: 'JsonProperty', value: { type: 'x', value: [1] } }]],
    ['{ valueList }', { valueList: [1, 'a', { b: 2 }] }, [{ type: 'ListProperty', valueList: [1, 'a', { b: 2 }] }]],
    ['{ objectList } of URIs', { objectList: ['urn:a:1', 'urn:a:2'] }, [{ type: 'ListRelationship', objectList: ['urn:a:1', 'urn:a:2'] }]],
    ['{ objectList } of {object}', { objectList: [{ object: 'urn:a:1' }] }, [{ type: 'ListRelationship', objectList: ['urn:a:1'] }]],
    ['a bare geometry under location', POINT, [{ type: 'GeoProperty', value: POINT }], 'location'],
    ['a bare geometry under any name', POINT, [{ type: 'GeoProperty', value: POINT }]],
    ['{ value: geometry } under observationSpace', { value: POINT }, [{ type: 'GeoProperty', value: POINT }], 'observationSpace'],
    ['{ value: geometry } under a non-geo name (a Property)', { value: POINT }, [{ type: 'Property', value: POINT }]],
    ['an explicit type that wins over inference', { type: 'Property', value: POINT }, [{ type: 'Property', value: POINT }], 'location'],
    ['type GeoProperty under any name', { type: 'GeoProperty', value: POINT }, [{ type: 'GeoProperty', value: POINT }]],
    ['type VocabProperty', { type: 'VocabProperty', vocab: 'X' }, [{ type: 'VocabularyProperty', vocab: D + 'X' }]],
    ['type VocabularyProperty (v1.7 name)', { type: 'VocabularyProperty', vocab: 'X' }, [{ type: 'VocabularyProperty', vocab: D + 'X' }]],
    ['type as a compact IRI', { type: 'ngsi-ld:Property', value: 1 }, [{ type: 'Property', value: 1 }]],
    ['type as an IRI', { type: NGSI + 'Relationship', object: 'urn:a:1' }, [{ type: 'Relationship', object: 'urn:a:1' }]],
    ['a JsonProperty holding null', { type: 'JsonProperty', json: [null] }, [{ type: 'JsonProperty', value: [null] }]],
    ['concise sub-attributes', { value: 20, unitCode: 'CEL', accuracy: 0.5, source: { object: 'urn:s:1' } }, [{
      type: 'Property',
      value: 20,
      unitCode: 'CEL',
      sub: { [D + 'accuracy']: { type: 'Property', value: 0.5 }, [D + 'source']: { type: 'Relationship', object: 'urn:s:1' } }
    }]],
    ['system members ignored', { value: 1, createdAt: 'x', modifiedAt: 'y', instanceId: 'urn:i:1', lang: 'fr', previousValue: 0 },
      [{ type: 'Property', value: 1 }]],
    ['multi-instance, default first then by datasetId', [
      { value: 3, datasetId: 'urn:ds:b' },
      { type: 'Property', value: 2, datasetId: 'urn:ds:a' },
      { value: 1 }
    ], [
      { type: 'Property', value: 1 },
      { type: 'Property', value: 2, datasetId: 'urn:ds:a' },
      { type: 'Property', value: 3, datasetId: 'urn:ds:b' }
    ]],
    ['multi-instance of mixed kinds', [{ object: 'urn:a:1', datasetId: 'urn:ds:r' }, { value: 1 }],
      [{ type: 'Property', value: 1 }, { type: 'Relationship', object: 'urn:a:1', datasetId: 'urn:ds:r' }]]
  ]
  for (const [what, raw, expected, name] of shapes) {
    it(`reads ${what}`, () => { assert.deepEqual(attr(raw, name), expected) })
  }

  it('reads entity types and scopes', () => {
    const ctx = compileInlineContext({ ex: 'https://example.org/', A: 'ex:A' })
    const e = expandEntity({ id: ID, type: ['A', 'B', 'A', 'https://other.org/C'], scope: ['/a', '/a/b', '/a'] }, ctx, { requireType: true })
    assert.deepEqual(e.type, ['https://example.org/A', D + 'B', 'https://other.org/C'])
    assert.deepEqual(e.scope, ['/a', '/a/b'])
    assert.deepEqual(e.attrs, {})
  })

  it('takes the id from the URL and leaves type empty when allowed', () => {
    assert.deepEqual(expandEntity({ a: 1 }, core, { requireType: false, entityId: ID }), {
      id: ID, type: [], attrs: { [D + 'a']: [{ type: 'Property', value: 1 }] }
    })
  })

  const invalid: Array<[string, unknown, string]> = [
    ['a body that is not an object', [1], 'an entity must be a JSON object'],
    ['a missing id', { type: 'T' }, 'id is missing'],
    ['a non-URI id', { id: 'thing-1', type: 'T' }, 'id "thing-1" is not a URI'],
    ['an id with a space', { id: 'urn:a b', type: 'T' }, 'is not a URI'],
    ['a missing type', { id: ID }, 'type is missing'],
    ['an empty type list', { id: ID, type: [] }, 'type must be a string or a non-empty array of strings'],
    ['a numeric type', { id: ID, type: [5] }, 'type 5 is not a string'],
    ['a type with a forbidden character', { id: ID, type: 'A<B' }, 'type name "A<B" contains the forbidden character "<"'],
    ['a bad scope', { id: ID, type: 'T', scope: 'no-slash' }, 'scope "no-slash" is not a scope'],
    ['an attribute name with a space', { id: ID, type: 'T', 'bad name': 1 }, 'attribute name "bad name" contains the forbidden character " "'],
    ['an attribute name with "="', { id: ID, type: 'T', 'a=b': 1 }, 'forbidden character "="'],
    ['an attribute name with ";"', { id: ID, type: 'T', 'a;b': 1 }, 'forbidden character ";"'],
    ['an attribute name with "("', { id: ID, type: 'T', 'f(x)': 1 }, 'forbidden character "("'],
    ['an attribute name with a quote', { id: ID, type: 'T', "it's": 1 }, 'forbidden character "\'"'],
    ['an attribute name with a control character', { id: ID, type: 'T', 'a\u0001': 1 }, 'forbidden character'],
    ['a sub-attribute name with ">"', { id: ID, type: 'T', a: { value: 1, 'x>y': 2 } }, 'sub-attribute name "x>y" contains the forbidden character ">"'],
    ['an attribute that maps to a keyword', { id: ID, type: 'T', '@graph': 1 }, 'maps to the JSON-LD keyword'],
    ['ownerDomain given', { id: ID, type: 'T', ownerDomain: 'domain-a' }, 'ownerDomain is set by the system'],
    ['writerDomain given', { id: ID, type: 'T', writerDomain: 'domain-a' }, 'writerDomain is set by the system'],
    ['writerDomain on an attribute', { id: ID, type: 'T', a: { value: 1, writerDomain: 'x' } }, 'attribute a: writerDomain is set by the system'],
    ['a reserved name as an IRI', { id: ID, type: 'T', 'ngsi-ld:createdAt': 'x' }, 'is a reserved NGSI-LD name'],
    ['a Relationship without object', { id: ID, type: 'T', rel: { type: 'Relationship' } }, 'attribute rel: a Relationship needs object'],
    ['a Relationship with value', { id: ID, type: 'T', rel: { type: 'Relationship', value: 'urn:a:1' } }, 'attribute rel: a Relationship cannot have value'],
    ['a Relationship to a non-URI', { id: ID, type: 'T', rel: { type: 'Relationship', object: 'building 7' } }, 'attribute rel: object "building 7" is not a URI'],
    ['a Relationship to an empty list', { id: ID, type: 'T', rel: { object: [] } }, 'object must not be an empty array'],
    ['a Property without value', { id: ID, type: 'T', p: { type: 'Property', unitCode: 'CEL' } }, 'attribute p: a Property needs value'],
    ['an object without any value member', { id: ID, type: 'T', p: { unitCode: 'CEL' } }, 'attribute p has no value'],
    ['two value members', { id: ID, type: 'T', p: { value: 1, object: 'urn:a:1' } }, 'attribute p: object and value cannot be combined'],
    ['an unknown attribute type', { id: ID, type: 'T', p: { type: 'Propertee', value: 1 } }, 'attribute p: unknown attribute type "Propertee"'],
    ['a non-string attribute type', { id: ID, type: 'T', p: { type: 1, value: 1 } }, 'attribute p: type must be a string'],
    ['a GeoProperty with bad coordinates', { id: ID, type: 'T', location: { type: 'GeoProperty', value: { type: 'Point', coordinates: [1] } } },
      'attribute location: invalid GeoJSON geometry: coordinates'],
    ['a GeoProperty with an unknown geometry', { id: ID, type: 'T', location: { type: 'GeoProperty', value: { type: 'Circle', coordinates: [1, 2] } } },
      'attribute location: invalid GeoJSON geometry: type'],
    ['a bare geometry without coordinates', { id: ID, type: 'T', location: { type: 'Point' } }, 'attribute location: invalid GeoJSON geometry'],
    ['an open polygon', { id: ID, type: 'T', location: { type: 'Polygon', coordinates: [[[0, 0], [1, 0], [1, 1], [0, 1]]] } },
      'attribute location: invalid GeoJSON geometry: coordinates[0]'],
    ['a longitude out of range', { id: ID, type: 'T', location: { type: 'Point', coordinates: [200, 10] } }, 'attribute location: invalid GeoJSON geometry'],
    ['a geometry that is no object', { id: ID, type: 'T', location: { type: 'GeoProperty', value: 'Point(1 2)' } }, 'attribute location: invalid GeoJSON geometry'],
    ['a bad observedAt', { id: ID, type: 'T', p: { value: 1, observedAt: 'yesterday' } }, 'attribute p: observedAt "yesterday" is not an ISO 8601 DateTime'],
    ['an observedAt without time zone', { id: ID, type: 'T', p: { value: 1, observedAt: '2024-01-01T10:00:00' } }, 'is not an ISO 8601 DateTime'],
    ['a sub-attribute with a bad observedAt', { id: ID, type: 'T', p: { value: 1, q: { value: 2, observedAt: 5 } } }, 'attribute p.q: observedAt 5'],
    ['a non-URI datasetId', { id: ID, type: 'T', p: { value: 1, datasetId: 'ds1' } }, 'attribute p: datasetId "ds1" is not a URI'],
    ['duplicate datasetIds', { id: ID, type: 'T', p: [{ value: 1, datasetId: 'urn:ds:1' }, { value: 2, datasetId: 'urn:ds:1' }] },
      'attribute p: duplicate datasetId urn:ds:1'],
    ['two default instances', { id: ID, type: 'T', p: [{ value: 1 }, { value: 2 }] }, 'attribute p: more than one default instance'],
    ['a non-string unitCode', { id: ID, type: 'T', p: { value: 1, unitCode: 3 } }, 'attribute p: unitCode must be a non-empty string'],
    ['a bad language tag', { id: ID, type: 'T', n: { languageMap: { 'e n': 'x' } } }, 'attribute n: "e n" is not a language tag'],
    ['a non-string language entry', { id: ID, type: 'T', n: { languageMap: { en: 5 } } }, 'attribute n: languageMap[en] must be a string'],
    ['an empty vocab list', { id: ID, type: 'T', v: { vocab: [] } }, 'attribute v: vocab must be a string or a non-empty array'],
    ['a valueList that is no list', { id: ID, type: 'T', l: { valueList: 5 } }, 'attribute l: valueList must be an array'],
    ['an objectList of non-URIs', { id: ID, type: 'T', l: { objectList: ['x y'] } }, 'attribute l: objectList item "x y" is not a URI'],
    ['null without merge', { id: ID, type: 'T', p: null }, 'attribute p: null (or NGSI-LD Null) is only allowed in merge and update operations'],
    ['NGSI-LD Null without merge', { id: ID, type: 'T', p: { value: 'urn:ngsi-ld:null' } }, 'is only allowed in merge'],
    ['objectType (unsupported)', { id: ID, type: 'T', r: { object: 'urn:a:1', objectType: 'Building' } }, 'attribute r: objectType is not supported'],
    ['an id on an attribute', { id: ID, type: 'T', r: { value: 1, id: 'urn:x:1' } }, 'attribute r: an attribute has no id'],
    ['one attribute under two names', { id: ID, type: 'T', temp: 1, 'ngsi-ld:default-context/temp': 2 }, 'is given twice']
  ]
  for (const [what, body, fragment] of invalid) {
    it(`rejects ${what}`, () => { badRequest(() => expandEntity(body, core, { requireType: true }), fragment) })
  }

  it('rejects an id that does not match the URL', () => {
    badRequest(() => expandEntity({ id: 'urn:x:2', type: 'T' }, core, { requireType: true, entityId: ID }), `does not match the entity ${ID}`)
  })

  it('rejects sub-attributes nested too deep', () => {
    let raw: Record<string, unknown> = { value: 0 }
    for (let i = 0; i < 20; i++) raw = { value: i, s: raw }
    badRequest(() => attr(raw), 'nested deeper than 16 levels')
  })

  describe('merge (expandEntityPatch)', () => {
    it('turns null and NGSI-LD Null into deletions', () => {
      const { entity, deletions } = expandEntityPatch({
        gone: null,
        alsoGone: 'urn:ngsi-ld:null',
        valueNull: { value: 'urn:ngsi-ld:null' },
        rel: { type: 'Relationship', object: 'urn:ngsi-ld:null' },
        voc: { vocab: 'urn:ngsi-ld:null' },
        lm: { languageMap: { '@none': 'urn:ngsi-ld:null' } },
        multi: [{ value: null, datasetId: 'urn:ds:1' }, { value: 5 }],
        kept: { value: 1, unitCode: null, accuracy: 'urn:ngsi-ld:null', meta: { value: 2, observedAt: null } }
      }, core, { requireType: false, entityId: ID })
      assert.deepEqual(entity, {
        id: ID,
        type: [],
        attrs: {
          [D + 'multi']: [{ type: 'Property', value: 5 }],
          [D + 'kept']: [{ type: 'Property', value: 1, sub: { [D + 'meta']: { type: 'Property', value: 2 } } }]
        }
      })
      assert.deepEqual(deletions, [
        { attr: D + 'gone' },
        { attr: D + 'alsoGone' },
        { attr: D + 'valueNull' },
        { attr: D + 'rel' },
        { attr: D + 'voc' },
        { attr: D + 'lm' },
        { attr: D + 'multi', datasetId: 'urn:ds:1' },
        { attr: D + 'kept', path: ['unitCode'] },
        { attr: D + 'kept', path: [D + 'accuracy'] },
        { attr: D + 'kept', path: [D + 'meta', 'observedAt'] }
      ])
    })

    it('applies deletions to a stored entity', () => {
      const stored = expandEntity({
        id: ID,
        type: 'T',
        a: 1,
        m: [{ value: 1 }, { value: 2, datasetId: 'urn:ds:1' }],
        k: { value: 1, unitCode: 'CEL', s: { value: 2, observedAt: '2024-01-01T00:00:00Z' } }
      }, core, { requireType: true })
      assert.equal(applyDeletion(stored, { attr: D + 'a' }), true)
      assert.equal(applyDeletion(stored, { attr: D + 'm', datasetId: 'urn:ds:1' }), true)
      assert.equal(applyDeletion(stored, { attr: D + 'k', path: ['unitCode'] }), true)
      assert.equal(applyDeletion(stored, { attr: D + 'k', path: [D + 's', 'observedAt'] }), true)
      assert.equal(applyDeletion(stored, { attr: D + 'missing' }), false)
      assert.equal(applyDeletion(stored, { attr: D + 'm', datasetId: 'urn:ds:9' }), false)
      assert.deepEqual(stored.attrs, {
        [D + 'm']: [{ type: 'Property', value: 1 }],
        [D + 'k']: [{ type: 'Property', value: 1, sub: { [D + 's']: { type: 'Property', value: 2 } } }]
      })
    })
  })

  describe('expandAttributes', () => {
    it('reads an append/update body and checks id and type against the URL', () => {
      const ctx = compileInlineContext({ ex: 'https://example.org/', Room: 'ex:Room' })
      const patch = expandAttributes({ id: ID, type: 'Room', scope: '/x', temperature: 21, gone: null }, ctx, {
        entityId: ID, entityType: ['https://example.org/Room'], allowNull: true
      })
      assert.deepEqual(patch, {
        attrs: { [D + 'temperature']: [{ type: 'Property', value: 21 }] },
        deletions: [{ attr: D + 'gone' }],
        type: ['https://example.org/Room'],
        scope: ['/x']
      })
      badRequest(() => expandAttributes({ id: 'urn:x:2', a: 1 }, ctx, { entityId: ID }), 'does not match the entity')
      badRequest(() => expandAttributes({ type: 'Kitchen', a: 1 }, ctx, { entityType: ['https://example.org/Room'] }), "type Kitchen does not match the entity's type")
      badRequest(() => expandAttributes({ a: null }, ctx), 'only allowed in merge')
      badRequest(() => expandAttributes('x', ctx), 'the attributes must be a JSON object')
    })
  })

  describe('expandAttribute / expandAttributeFragment / mergeAttribute', () => {
    it('reads the attribute with or without its name as key', () => {
      const plain = expandAttribute('temperature', { type: 'Property', value: 20 }, core)
      const named = expandAttribute('temperature', { temperature: { type: 'Property', value: 20 } }, core)
      assert.deepEqual(plain, { name: D + 'temperature', instances: [{ type: 'Property', value: 20 }], deletions: [] })
      assert.deepEqual(named, plain)
      const byIri = expandAttribute(D + 'temperature', { [D + 'temperature']: 20 }, core)
      assert.deepEqual(byIri, plain)
      const multi = expandAttribute('t', [{ value: 1, datasetId: 'urn:ds:1' }, { value: 0 }], core)
      assert.deepEqual(multi.instances.map(i => i.datasetId), [undefined, 'urn:ds:1'])
      badRequest(() => expandAttribute('bad name', 1, core), 'forbidden character')
    })

    it('reads partial fragments with the kind left open for a bare value', () => {
      assert.deepEqual(expandAttributeFragment('t', { value: 22 }, core).instances, [{ value: 22 }])
      assert.deepEqual(expandAttributeFragment('t', { observedAt: '2024-01-01T00:00:00Z' }, core).instances, [{ observedAt: '2024-01-01T00:00:00Z' }])
      assert.deepEqual(expandAttributeFragment('r', { object: 'urn:a:2' }, core).instances, [{ type: 'Relationship', object: 'urn:a:2' }])
      assert.deepEqual(expandAttributeFragment('location', { value: POINT }, core).instances, [{ type: 'GeoProperty', value: POINT }])
      assert.deepEqual(expandAttributeFragment('t', { value: 1, unitCode: null }, core, { allowNull: true }).deletions,
        [{ attr: D + 't', path: ['unitCode'] }])
      badRequest(() => expandAttributeFragment('t', 5, core), 'a partial update needs an object')
      badRequest(() => expandAttributeFragment('t', { value: 1, observedAt: 'now' }, core), 'is not an ISO 8601 DateTime')
    })

    const stored: Attribute = {
      type: 'Property',
      value: 20,
      unitCode: 'CEL',
      observedAt: '2024-01-01T00:00:00Z',
      createdAt: '2023-01-01T00:00:00.000Z',
      modifiedAt: '2023-06-01T00:00:00.000Z',
      writer: 'domain-a',
      sub: { [D + 'accuracy']: { type: 'Property', value: 0.5 }, [D + 'source']: { type: 'Relationship', object: 'urn:s:1' } }
    }
    const merges: Array<[string, Partial<Attribute>, Attribute, Array<readonly string[]>?]> = [
      ['a new value keeps the other members', { value: 22 }, { ...stored, value: 22 }],
      ['metadata only', { observedAt: '2024-02-02T00:00:00Z', modifiedAt: 'now', writer: 'domain-b' },
        { ...stored, observedAt: '2024-02-02T00:00:00Z', modifiedAt: 'now', writer: 'domain-b' }],
      ['sub-attributes merged by name', { sub: { [D + 'accuracy']: { type: 'Property', value: 0.1 }, [D + 'new']: { type: 'Property', value: 1 } } },
        { ...stored, sub: { [D + 'accuracy']: { type: 'Property', value: 0.1 }, [D + 'source']: { type: 'Relationship', object: 'urn:s:1' }, [D + 'new']: { type: 'Property', value: 1 } } }],
      ['createdAt and datasetId stay', { value: 1, createdAt: 'later', datasetId: 'urn:ds:x' }, { ...stored, value: 1 }],
      ['a kind change drops the old value member', { type: 'Relationship', object: 'urn:a:1' }, { ...stored, type: 'Relationship', object: 'urn:a:1', value: undefined }],
      ['removals of members and sub-attributes', { value: 3 }, (() => {
        const { unitCode: _u, ...rest } = stored
        return { ...rest, value: 3, sub: { [D + 'source']: { type: 'Relationship', object: 'urn:s:1' } } }
      })(), [['unitCode'], [D + 'accuracy']]]
    ]
    for (const [what, patch, expected, removals] of merges) {
      it(`merges: ${what}`, () => {
        const before = structuredClone(stored)
        const merged = mergeAttribute(stored, patch, removals)
        assert.deepEqual(JSON.parse(JSON.stringify(merged)), JSON.parse(JSON.stringify(expected)))
        assert.deepEqual(stored, before, 'the stored attribute is not modified')
      })
    }

    it('merges languageMap entries per language', () => {
      const m = mergeAttribute({ type: 'LanguageProperty', languageMap: { en: 'cat', fr: 'chat' } }, { languageMap: { fr: 'minou', de: 'Katze' } })
      assert.deepEqual(m.languageMap, { en: 'cat', fr: 'minou', de: 'Katze' })
    })

    it('refuses merges that would leave an invalid attribute', () => {
      badRequest(() => mergeAttribute(stored, { object: 'urn:a:1' }), 'give its type to change its kind')
      badRequest(() => mergeAttribute(stored, { type: 'Relationship' }), 'a Relationship needs object')
      badRequest(() => mergeAttribute({ type: 'GeoProperty', value: POINT }, { value: 5 }), 'invalid GeoJSON geometry')
    })

    it('removes nested paths without touching the original', () => {
      const a: Attribute = { type: 'Property', value: 1, sub: { s: { type: 'Property', value: 2, unitCode: 'X', sub: { t: { type: 'Property', value: 3 } } } } }
      const before = structuredClone(a)
      assert.deepEqual(removeFromAttribute(a, ['s', 't']), { type: 'Property', value: 1, sub: { s: { type: 'Property', value: 2, unitCode: 'X' } } })
      assert.deepEqual(removeFromAttribute(a, ['s']), { type: 'Property', value: 1 })
      assert.equal(removeFromAttribute(a, ['nothing']), a)
      assert.deepEqual(a, before)
    })
  })
})

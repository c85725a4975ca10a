import { strict as assert } from 'node:assert'
import {
  CORE_CONTEXT_DOCUMENT, CORE_CONTEXT_URL, compileInlineContext, coreContext, type CompiledContext
} from '../../../src/ngsi/context/index.ts'
import { BadRequestDataError } from '../../../src/ngsi/errors.ts'

const NGSI = 'https://uri.etsi.org/ngsi-ld/'
const DEFAULT = 'https://uri.etsi.org/ngsi-ld/default-context/'
const GEOJSON = 'https://purl.org/geojson/vocab#'

/** The IRI a core term maps to, read straight from the shipped JSON (prefixes by hand). */
function coreIri (def: unknown, term: string): string {
  const id = typeof def === 'string' ? def : (def as { '@id'?: string })['@id'] ?? term
  if (id.startsWith('ngsi-ld:')) return NGSI + id.slice(8)
  if (id.startsWith('geojson:')) return GEOJSON + id.slice(8)
  if (id.startsWith('@') || id.includes('://')) return id
  return DEFAULT + id
}

function badRequest (fn: () => unknown, fragment: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof BadRequestDataError, `expected BadRequestData, got ${String(err)}`)
    assert.equal(err.code, 'NGSI_BAD_REQUEST_DATA')
    assert.ok(err.message.includes(fragment), `"${err.message}" should contain "${fragment}"`)
    return true
  })
}

describe('ngsi/context compile', () => {
  describe('core context', () => {
    const core = coreContext()

    it('echoes the core context URL and uses the default vocabulary', () => {
      assert.equal(core.value, CORE_CONTEXT_URL)
      assert.equal(core.key, CORE_CONTEXT_URL)
      assert.equal(core.vocab, DEFAULT)
      assert.equal(CORE_CONTEXT_DOCUMENT['@context']['@vocab'], DEFAULT)
    })

    const known: Array<[string, string]> = [
      ['id', '@id'],
      ['type', '@type'],
      ['Property', NGSI + 'Property'],
      ['Relationship', NGSI + 'Relationship'],
      ['GeoProperty', NGSI + 'GeoProperty'],
      ['LanguageProperty', NGSI + 'LanguageProperty'],
      ['VocabProperty', NGSI + 'VocabProperty'],
      ['JsonProperty', NGSI + 'JsonProperty'],
      ['ListProperty', NGSI + 'ListProperty'],
      ['ListRelationship', NGSI + 'ListRelationship'],
      ['value', NGSI + 'hasValue'],
      ['object', NGSI + 'hasObject'],
      ['languageMap', NGSI + 'hasLanguageMap'],
      ['vocab', NGSI + 'hasVocab'],
      ['json', NGSI + 'hasJSON'],
      ['valueList', NGSI + 'hasValueList'],
      ['objectList', NGSI + 'hasObjectList'],
      ['location', NGSI + 'location'],
      ['observationSpace', NGSI + 'observationSpace'],
      ['operationSpace', NGSI + 'operationSpace'],
      ['observedAt', NGSI + 'observedAt'],
      ['createdAt', NGSI + 'createdAt'],
      ['modifiedAt', NGSI + 'modifiedAt'],
      ['deletedAt', NGSI + 'deletedAt'],
      ['unitCode', NGSI + 'unitCode'],
      ['datasetId', NGSI + 'datasetId'],
      ['instanceId', NGSI + 'instanceId'],
      ['scope', NGSI + 'scope'],
      ['Point', GEOJSON + 'Point'],
      ['coordinates', GEOJSON + 'coordinates'],
      ['description', 'http://purl.org/dc/terms/description'],
      ['attributeCount', DEFAULT + 'attributeCount'],
      ['ngsi-ld', NGSI],
      ['geojson', GEOJSON]
    ]
    for (const [term, iri] of known) {
      it(`expands ${term} to ${iri} and back`, () => {
        assert.equal(core.expandTerm(term), iri)
        if (!iri.startsWith('@')) assert.equal(core.compactIri(iri), term)
      })
    }

    it('expands and compacts every term of the shipped core context', () => {
      const terms = Object.entries(CORE_CONTEXT_DOCUMENT['@context']).filter(([t]) => !t.startsWith('@'))
      assert.ok(terms.length > 150, `only ${terms.length} core terms`)
      for (const [term, def] of terms) {
        const iri = coreIri(def, term)
        assert.equal(core.expandTerm(term), iri, term)
        if (!iri.startsWith('@')) assert.equal(core.compactIri(iri), term, iri)
        assert.equal(core.terms.get(term)?.core, true)
      }
    })

    it('keeps the @type of DateTime and @vocab terms', () => {
      assert.equal(core.terms.get('observedAt')?.type, NGSI + 'DateTime')
      assert.equal(core.terms.get('vocab')?.type, '@vocab')
      assert.equal(core.terms.get('object')?.type, '@id')
      assert.deepEqual(core.terms.get('languageMap')?.container, ['@language'])
    })

    const other: Array<[string, string, string]> = [
      ['an unknown term (default vocabulary)', 'cpuCores', DEFAULT + 'cpuCores'],
      ['a compact IRI with the ngsi-ld prefix', 'ngsi-ld:foo', NGSI + 'foo'],
      ['a compact IRI with the geojson prefix', 'geojson:bbox2', GEOJSON + 'bbox2'],
      ['a URN', 'urn:ngsi-ld:Thing:1', 'urn:ngsi-ld:Thing:1'],
      ['an https IRI', 'https://example.org/ns#temp', 'https://example.org/ns#temp'],
      ['an unknown prefix (kept as an IRI)', 'ex:temp', 'ex:temp']
    ]
    for (const [what, term, iri] of other) {
      it(`expands ${what}`, () => { assert.equal(core.expandTerm(term), iri) })
    }

    const compaction: Array<[string, string, string]> = [
      ['a default-vocabulary IRI to its name', DEFAULT + 'cpuCores', 'cpuCores'],
      ['a core-namespace IRI without a term to a compact IRI', NGSI + 'foo', 'ngsi-ld:foo'],
      ['a default-vocabulary IRI with a slash to a compact IRI', DEFAULT + 'a/b', 'ngsi-ld:default-context/a/b'],
      ['a default-vocabulary IRI that spells a core term', DEFAULT + 'location', 'ngsi-ld:default-context/location'],
      ['a foreign IRI to itself', 'https://example.org/ns#temp', 'https://example.org/ns#temp'],
      ['a URN to itself', 'urn:x:y', 'urn:x:y']
    ]
    for (const [what, iri, term] of compaction) {
      it(`compacts ${what}`, () => {
        assert.equal(core.compactIri(iri), term)
        assert.equal(core.expandTerm(term), iri, 'the compacted name expands back')
      })
    }

    it('expands and compacts vocab values, never to a keyword', () => {
      assert.equal(core.expandVocab('Cloud'), DEFAULT + 'Cloud')
      assert.equal(core.expandVocab('id'), DEFAULT + 'id')
      assert.deepEqual(core.expandVocab(['Edge', 'ngsi-ld:Cloud']), [DEFAULT + 'Edge', NGSI + 'Cloud'])
      assert.equal(core.compactVocab(DEFAULT + 'Cloud'), 'Cloud')
      assert.deepEqual(core.compactVocab([DEFAULT + 'Edge', NGSI + 'Property']), ['Edge', 'Property'])
    })
  })

  describe('user contexts', () => {
    const aeros = 'https://w3id.org/aerOS/continuum#'
    const ctx = compileInlineContext([
      {
        // terms may use prefixes defined after them
        cpuCores: 'aeros:cpuCores',
        aeros,
        schema: 'https://schema.org/',
        name: 'schema:name',
        domain: { '@id': 'aeros:domain', '@type': '@id' },
        InfrastructureElement: 'aeros:InfrastructureElement',
        // core terms cannot be overridden: ignored
        location: 'https://example.org/myLocation',
        value: 'https://example.org/myValue',
        type: 'https://example.org/type'
      },
      CORE_CONTEXT_URL,
      { '@vocab': 'https://example.org/vocab/', ex: { '@id': 'https://example.org/ex/', '@prefix': true } }
    ])

    const expansions: Array<[string, string]> = [
      ['cpuCores', aeros + 'cpuCores'],
      ['name', 'https://schema.org/name'],
      ['domain', aeros + 'domain'],
      ['InfrastructureElement', aeros + 'InfrastructureElement'],
      ['aeros:ramCapacity', aeros + 'ramCapacity'],
      ['schema:address', 'https://schema.org/address'],
      ['ex:thing', 'https://example.org/ex/thing'],
      ['unknownName', 'https://example.org/vocab/unknownName'],
      ['location', NGSI + 'location'],
      ['value', NGSI + 'hasValue'],
      ['type', '@type'],
      ['observedAt', NGSI + 'observedAt'],
      ['https://other.org/x', 'https://other.org/x']
    ]
    for (const [term, iri] of expansions) {
      it(`expands ${term}`, () => { assert.equal(ctx.expandTerm(term), iri) })
    }

    const compactions: Array<[string, string]> = [
      [aeros + 'cpuCores', 'cpuCores'],
      [aeros + 'ramCapacity', 'aeros:ramCapacity'],
      ['https://schema.org/name', 'name'],
      ['https://example.org/vocab/unknownName', 'unknownName'],
      ['https://example.org/ex/thing', 'ex:thing'],
      [NGSI + 'location', 'location'],
      [DEFAULT + 'cpuCores', 'ngsi-ld:default-context/cpuCores'],
      ['https://other.org/x', 'https://other.org/x']
    ]
    for (const [iri, term] of compactions) {
      it(`compacts ${iri}`, () => {
        assert.equal(ctx.compactIri(iri), term)
        assert.equal(ctx.expandTerm(term), iri)
      })
    }

    it('echoes the context value as given', () => {
      const value = [{ a: 'https://a.org/a' }, CORE_CONTEXT_URL]
      assert.deepEqual(compileInlineContext(value).value, value)
    })

    it('prefers the shortest term when several map to one IRI', () => {
      const c = compileInlineContext({ temperature: 'https://x.org/t', t: 'https://x.org/t', tt: 'https://x.org/t' })
      assert.equal(c.compactIri('https://x.org/t'), 't')
    })

    it('only uses simple gen-delim terms as prefixes (JSON-LD 1.1)', () => {
      const c = compileInlineContext({ ex: { '@id': 'https://example.org/' }, fx: 'https://f.org/x' })
      assert.equal(c.expandTerm('ex:a'), 'ex:a')
      assert.equal(c.expandTerm('fx:a'), 'fx:a')
      assert.equal(c.compactIri('https://example.org/a'), 'https://example.org/a')
    })

    it('resolves @vocab given as a compact IRI and resets it with null', () => {
      const c = compileInlineContext({ schema: 'https://schema.org/', '@vocab': 'schema:' })
      assert.equal(c.expandTerm('name'), 'https://schema.org/name')
      const reset = compileInlineContext([{ '@vocab': 'https://a.org/' }, { '@vocab': null }])
      assert.equal(reset.expandTerm('name'), DEFAULT + 'name')
    })

    it('treats a null term definition as undefined (back to @vocab)', () => {
      const c = compileInlineContext([{ temp: 'https://x.org/temp' }, { temp: null }])
      assert.equal(c.expandTerm('temp'), DEFAULT + 'temp')
    })

    it('accepts JSON-LD features it does not apply (scoped contexts, @language, @base)', () => {
      const c = compileInlineContext({
        '@version': 1.1,
        '@base': 'https://base.org/',
        '@language': 'en',
        address: { '@id': 'https://schema.org/address', '@context': { street: 'https://schema.org/street' } },
        tags: { '@id': 'https://x.org/tags', '@container': ['@set'] },
        knows: { '@reverse': 'https://x.org/knownBy' }
      })
      assert.equal(c.expandTerm('address'), 'https://schema.org/address')
      assert.equal(c.expandTerm('street'), DEFAULT + 'street')
    })

    it('protects user terms marked @protected against a different redefinition', () => {
      const first = { '@protected': true, temp: 'https://x.org/temp' }
      assert.equal(compileInlineContext([first, { temp: 'https://x.org/temp' }]).expandTerm('temp'), 'https://x.org/temp')
      badRequest(() => compileInlineContext([first, { temp: 'https://y.org/temp' }]), 'term "temp": a protected term cannot be redefined')
    })
  })

  describe('invalid contexts', () => {
    const cases: Array<[string, unknown, string]> = [
      ['a number', 42, 'a context definition must be a JSON object'],
      ['a boolean in an array', [{ a: 'https://a.org/' }, true], 'a context definition must be a JSON object'],
      ['null inside an array', [null], 'null cannot reset the context'],
      ['a numeric term definition', { temp: 5 }, 'term "temp": a term definition must be a string, an object or null'],
      ['a numeric @id', { temp: { '@id': 5 } }, 'term "temp": @id must be a string or null'],
      ['an unknown member', { temp: { '@id': 'https://x.org/t', '@foo': 1 } }, 'term "temp": unknown member "@foo"'],
      ['a bad container', { temp: { '@id': 'https://x.org/t', '@container': '@bag' } }, 'term "temp": @container "@bag"'],
      ['a bad @type', { temp: { '@id': 'https://x.org/t', '@type': 7 } }, 'term "temp": @type must be a string'],
      ['a cyclic mapping', { a: 'b:x', b: 'a:y' }, 'cyclic IRI mapping'],
      ['a redefined keyword', { '@id': 'https://x.org/id' }, 'keywords cannot be redefined'],
      ['@version 1.0', { '@version': 1.0 }, 'term "@version": must be 1.1'],
      ['@import', { '@import': 'https://x.org/c.jsonld' }, '@import'],
      ['a non-string @vocab', { '@vocab': 3 }, 'term "@vocab": must be an IRI'],
      ['a relative term', { 'a/b': { '@type': '@id' } }, 'term "a/b": a relative IRI used as a term needs an @id'],
      ['@prefix on a compact IRI', { 'ex:a': { '@id': 'https://x.org/', '@prefix': true } }, 'term "ex:a": @prefix'],
      ['an aliased @context', { ctx: '@context' }, 'term "ctx": @context cannot be aliased'],
      ['a URL that needs loading', 'https://example.org/c.jsonld', 'must be resolved with a ContextResolver']
    ]
    for (const [what, context, fragment] of cases) {
      it(`rejects ${what}`, () => { badRequest(() => compileInlineContext(context), fragment) })
    }
  })

  it('memoises lookups without changing results', () => {
    const ctx: CompiledContext = compileInlineContext({ t: 'https://x.org/t' })
    for (let i = 0; i < 3; i++) {
      assert.equal(ctx.expandTerm('t'), 'https://x.org/t')
      assert.equal(ctx.compactIri('https://x.org/t'), 't')
    }
  })
})

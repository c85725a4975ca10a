import { strict as assert } from 'node:assert'
import { bindQ, evaluateQ, parseQ, referencedAttributes, requiredAttributes, MAX_QUERY_NODES } from '../../../src/ngsi/query/index.ts'
import { DEFAULT_VOCAB } from '../../../src/ngsi/types.ts'
import type { Entity } from '../../../src/ngsi/types.ts'
import { entity, errorOf, expandTerm, geo, lang, prop, rel, vocab } from './fixtures.ts'

const D = DEFAULT_VOCAB

// Three entities with one feature each worth querying; every case below lists which of them match.
const e1 = entity('urn:e:1', 'Sensor', {
  temperature: prop(21.5, {
    observedAt: '2018-12-04T12:00:00.000Z',
    unitCode: 'CEL',
    sub: { accuracy: prop(0.5) }
  }),
  name: lang({ en: 'Tower', fr: 'Tour' }),
  status: prop('active'),
  category: prop(['commercial', 'retail']),
  address: prop({ city: 'Berlin', street: { name: 'Main', number: 12 } }),
  isParked: rel('urn:ngsi-ld:OffStreetParking:Downtown1'),
  enabled: prop(true),
  installed: prop('2017-06-01'),
  opens: prop('08:00:00Z'),
  kind: vocab(D + 'indoor'),
  location: geo({ type: 'Point', coordinates: [-3.7038, 40.4168] })
})
const e2 = entity('urn:e:2', 'Sensor', {
  // two instances: the default one and a second dataset
  temperature: [
    prop(18, { observedAt: '2019-01-01T00:00:00Z' }),
    prop(30, { datasetId: 'urn:ds:b' })
  ],
  name: lang({ fr: 'Gare', en: ['Station', 'Railway station'] }),
  status: prop('inactive'),
  category: prop(['industrial']),
  address: prop({ city: 'Paris' }),
  isParked: rel(['urn:x:a', 'urn:x:b']),
  enabled: prop(false),
  lastSeen: prop({ '@type': 'DateTime', '@value': '2020-05-01T00:00:00Z' }),
  kind: vocab([D + 'outdoor', 'https://example.org/vocab/roof'])
})
const e3 = entity('urn:e:3', 'Building', {
  status: prop('active'),
  temperature: prop('21'),
  'https://example.org/v1.2/humidity': prop(60),
  'https://example.org/temp.v2': prop(7),
  'https://example.org/ns#level': prop(3),
  'ex:floor': prop(2, { observedAt: '2021-01-01T00:00:00Z' })
})
const ENTITIES: Entity[] = [e1, e2, e3]

const cases: Array<[string, number[]]> = [
  // numbers
  ['temperature>20', [1, 2]],
  ['temperature>25', [2]],
  ['temperature==21.5', [1]],
  ['temperature==2.15e1', [1]],
  ['temperature>=-5', [1, 2]],
  ['temperature<20', [2]],
  ['temperature<=18', [2]],
  ['temperature!=18', [1, 2]],
  ['temperature==18..20', [2]],
  ['temperature==21.5..21.5', [1]],
  ['temperature!=20..25', [2]],
  ['temperature!=10..40', []],
  ['temperature==1,21.5,99', [1]],
  ['temperature!=21.5,18', [2]],
  ['temperature==-3', []],
  // strings (quoted, lexicographic); a number attribute never equals a string and vice versa
  ['status=="active"', [1, 3]],
  ["status=='active'", [1, 3]],
  ['status!="active"', [2]],
  ['status>"b"', [2]],
  ['status=="active".."b"', [1, 3]],
  ['status=="x","inactive"', [2]],
  ['temperature=="21"', [3]],
  ['temperature==21', []],
  ['status=="a\\"b"', []],
  // booleans
  ['enabled==true', [1]],
  ['enabled==false', [2]],
  ['enabled!=true', [2]],
  ['enabled==true,false', [1, 2]],
  // dates and times compare as instants (the stored observedAt has milliseconds)
  ['temperature.observedAt>=2018-12-04T12:00:00Z', [1, 2]],
  ['temperature.observedAt==2018-12-04T12:00:00Z', [1]],
  ['temperature.observedAt==2018-12-04T13:00:00+01:00', [1]],
  ['temperature.observedAt>"2018-12-04T12:00:00Z"', [2]],
  ['temperature.observedAt<2018-12-05', [1]],
  ['temperature.observedAt==2018-12-01T00:00:00Z..2018-12-31T23:59:59Z', [1]],
  ['temperature.observedAt=="2018-01-01".."2018-12-31"', [1]],
  ['temperature.observedAt=="2018-01-01".."2018-12-04"', []],
  ['temperature.observedAt=="2018-01-01".."2019-01-01"', [1, 2]],
  ['installed==2017-06-01', [1]],
  ['installed==2017-01-01..2017-12-31', [1]],
  ['lastSeen>2020-01-01T00:00:00Z', [2]],
  ['opens<09:00:00Z', [1]],
  ['opens==10:00:00+02:00', [1]],
  ['status<2020-01-01', []],
  // regular expressions
  ['status~="^act"', [1, 3]],
  ['status~=^act', [1, 3]],
  ['status!~="^act"', [2]],
  ['status~="(?i)^ACT"', [1, 3]],
  ['name~="(?i)^TOU"', [1]],
  ['address[city]~="^(Ber|Par)"', [1, 2]],
  ['address[city]~=^(Ber|Par)', [1, 2]],
  ['temperature~="2"', [3]],
  ['isParked~="Downtown"', [1]],
  ['status~="\\w+ive$"', [1, 2, 3]],
  // existence
  ['address', [1, 2]],
  ['!address', [3]],
  ['location', [1]],
  ['nothing', []],
  ['!nothing', [1, 2, 3]],
  ['temperature.accuracy', [1]],
  ['!temperature.accuracy', [2, 3]],
  ['temperature.unitCode', [1]],
  ['temperature.datasetId', [2]],
  ['address[street][number]', [1]],
  ['address[zip]', []],
  ['!address[zip]', [1, 2, 3]],
  ['name[de]', []],
  ['name[fr]', [1, 2]],
  // sub-attributes and metadata
  ['temperature.unitCode=="CEL"', [1]],
  ['temperature.accuracy<1', [1]],
  ['temperature.accuracy>1', []],
  ['temperature.datasetId==urn:ds:b', [2]],
  ['temperature.datasetId=="urn:ds:b"', [2]],
  ['temperature.ngsi-ld:unitCode=="CEL"', [1]],
  // keys into structured values
  ['address[city]=="Berlin"', [1]],
  ['address[street][number]==12', [1]],
  ['address[street.number]>10', [1]],
  ['address[street][name]!="Main"', []],
  ['address[city]!="Berlin"', [2]],
  // LanguageProperty: a language, or any language
  ['name[fr]=="Tour"', [1]],
  ['name[en]=="Tour"', []],
  ['name=="Gare"', [2]],
  ['name=="Railway station"', [2]],
  ['name[EN]=="Station"', [2]],
  ['name[fr]!="Tour"', [2]],
  // relationships (string or array), as URI or quoted
  ['isParked==urn:ngsi-ld:OffStreetParking:Downtown1', [1]],
  ['isParked=="urn:ngsi-ld:OffStreetParking:Downtown1"', [1]],
  ['isParked==urn:x:b', [2]],
  ['isParked==urn:x:c,urn:x:a', [2]],
  ['isParked!=urn:x:a', [1]],
  // arrays: == any element, != no element
  ['category=="retail"', [1]],
  ['category!="retail"', [2]],
  // VocabularyProperty compares expanded IRIs
  ['kind=="indoor"', [1]],
  ['kind==https://uri.etsi.org/ngsi-ld/default-context/indoor', [1]],
  ['kind==https://example.org/vocab/roof', [2]],
  ['kind!="indoor"', [2]],
  ['kind~="roof$"', [2]],
  // attribute names that are IRIs
  ['https://example.org/v1.2/humidity>50', [3]],
  ['https://example.org/v1.2/humidity', [3]],
  ['"https://example.org/temp.v2"==7', [3]],
  ['https://example.org/ns#level==3', [3]],
  ['ex:floor==2', [3]],
  ['ex:floor.observedAt>2020-01-01T00:00:00Z', [3]],
  ['https://uri.etsi.org/ngsi-ld/default-context/status=="inactive"', [2]],
  // GeoProperty: existence only
  ['location=="x"', []],
  // missing attributes: != needs the attribute
  ['nothing!=3', []],
  ['nothing==3', []],
  // precedence: ';' binds tighter than '|', parentheses regroup
  ['status=="active";enabled==true|temperature<20', [1, 2]],
  ['status=="active";(enabled==true|temperature<20)', [1]],
  ['status=="inactive"|status=="active";enabled==true', [1, 2]],
  ['(status=="inactive"|status=="active");enabled==true', [1]],
  ['((status=="inactive"));((enabled==false))', [2]],
  ['address;!location;temperature>20|ex:floor', [2, 3]],
  // whitespace as brokers tolerate it
  [' temperature > 20 ; status == "active" ', [1]],
  ['( temperature == 18 .. 20 | enabled == true )', [1, 2]],
  ['status == "x" , "inactive"', [2]],
  ['! address', [3]]
]

describe('q: NGSI-LD query language', () => {
  describe('evaluation', () => {
    for (const [q, expected] of cases) {
      it(`${q}  →  ${expected.length === 0 ? 'none' : expected.map(n => `e${n}`).join(' ')}`, () => {
        const bound = bindQ(parseQ(q), expandTerm)
        const matched = ENTITIES.filter(e => evaluateQ(bound, e)).map(e => Number(e.id.slice(6)))
        assert.deepEqual(matched, expected)
      })
    }
  })

  describe('syntax errors', () => {
    const invalid: Array<[string, number, string]> = [
      ['temp>>3', 4, "found '>>'"],
      ['temp 3', 5, "expected an operator or ';' '|' ')'"],
      ['a=3', 1, "found '='"],
      ['', 0, 'expected an attribute name'],
      ['   ', 3, 'expected an attribute name'],
      ['a;', 2, 'expected an attribute name'],
      ['a|', 2, 'expected an attribute name'],
      ['a==', 3, 'expected a value'],
      ['a==Mercedes', 3, 'expected a value'],
      ['a=="unterminated', 3, 'unterminated string'],
      ['(a==1', 5, "the '(' at 0 is not closed"],
      ['a==1)', 4, "unbalanced ')'"],
      ['a==1 b', 5, "expected ';' '|' or the end of the query"],
      ['a==5x', 4, "unexpected 'x' after the value"],
      ['a>true', 2, 'true and false can only be compared with == or !='],
      ['a>1..5', 3, 'a range is only allowed after == or !='],
      ['a<1,2', 3, 'a list of values is only allowed after == or !='],
      ['a==1..true', 6, 'the range ends must be of the same kind'],
      ['a==1.."x"', 6, 'the range ends must be of the same kind'],
      ['a==1,2..3', 6, 'a list of values cannot contain a range'],
      ['a~="("', 3, 'invalid regular expression'],
      ['a~="(?x)b"', 3, "unsupported regular expression flag 'x'"],
      ['a~=', 3, 'expected a regular expression'],
      ['a==2018-13-01', 3, 'is not a valid date'],
      ['a==2018-02-30T10:00:00Z', 3, 'is not a valid date'],
      ['a==25:00:00', 3, 'is not a valid time'],
      ['a[', 2, 'expected a key'],
      ['a[b', 3, "expected ']'"],
      ['a[b..c]', 4, 'expected a key'],
      ['a..b==1', 2, 'expected a sub-attribute name'],
      ['a.==1', 2, 'expected a sub-attribute name'],
      ['a.observedAt.x', 13, 'observedAt is metadata and has no sub-attributes'],
      ['a.unitCode[x]', 10, 'unitCode is metadata and has no keys'],
      ['te#mp==1', 2, "unexpected character '#'"],
      ['1==1', 0, "unexpected character '1'"],
      ['!a==1', 2, "a negated term '!attribute' takes no operator"],
      ['!(a)', 1, 'expected an attribute name'],
      ['""==1', 0, 'expected a name inside the quotes'],
      ['a==1;;b', 5, 'expected an attribute name'],
      ['a && b', 2, "expected an operator or ';' '|' ')'"]
    ]
    for (const [q, position, expected] of invalid) {
      it(`rejects ${JSON.stringify(q)} at position ${position}`, () => {
        const message = errorOf(() => parseQ(q), 'NGSI_INVALID_REQUEST')
        assert.ok(message.startsWith('q: '), message)
        assert.ok(message.includes(expected), `expected "${expected}" in: ${message}`)
        assert.ok(message.includes(` at position ${position} in '`), `expected position ${position} in: ${message}`)
      })
    }

    it('puts the parameter and the position into the error data', () => {
      try {
        parseQ('temp>>3')
        assert.fail('accepted')
      } catch (err) {
        assert.deepEqual((err as { data: unknown }).data, { parameter: 'q', position: 4 })
      }
    })
  })

  describe('limits', () => {
    const tooComplex: Array<[string, string]> = [
      ['parentheses nested 40 deep', '('.repeat(40) + 'a' + ')'.repeat(40)],
      [`more than ${MAX_QUERY_NODES} terms`, Array.from({ length: 300 }, (_, i) => `a${i}==1`).join(';')],
      ['a list of 300 values', 'a==' + Array.from({ length: 300 }, (_, i) => String(i)).join(',')],
      ['a 9000-character expression', `a=="${'x'.repeat(9000)}"`],
      ['a 2000-character pattern', `a~="${'x'.repeat(2000)}"`]
    ]
    for (const [what, q] of tooComplex) {
      it(`answers TooComplexQuery for ${what}`, () => {
        errorOf(() => parseQ(q), 'NGSI_TOO_COMPLEX_QUERY')
      })
    }

    it('accepts 30 levels of parentheses and 200 terms', () => {
      parseQ('('.repeat(30) + 'a' + ')'.repeat(30))
      parseQ(Array.from({ length: 200 }, (_, i) => `a${i}==1`).join('|'))
    })
  })

  describe('parse tree', () => {
    it('reads IRIs, dotted paths and keys as documented', () => {
      const path = (q: string): unknown => {
        const e = parseQ(q)
        assert.ok(e.type === 'exists' || e.type === 'compare')
        return e.path
      }
      assert.deepEqual(path('https://example.org/ns/temp.observedAt>1'), { attr: 'https://example.org/ns/temp', subs: ['observedAt'], keys: [] })
      assert.deepEqual(path('https://example.org/v1.2/temp>1'), { attr: 'https://example.org/v1.2/temp', subs: [], keys: [] })
      assert.deepEqual(path('https://example.org/temp.v2'), { attr: 'https://example.org/temp', subs: ['v2'], keys: [] })
      assert.deepEqual(path('"https://example.org/temp.v2".unitCode'), { attr: 'https://example.org/temp.v2', subs: ['unitCode'], keys: [] })
      assert.deepEqual(path('ex:temp.ex:accuracy.observedAt'), { attr: 'ex:temp', subs: ['ex:accuracy', 'observedAt'], keys: [] })
      assert.deepEqual(path('temp."https://example.org/a.b"'), { attr: 'temp', subs: ['https://example.org/a.b'], keys: [] })
      assert.deepEqual(path('urn:ngsi-ld:attr:x.y'), { attr: 'urn:ngsi-ld:attr:x', subs: ['y'], keys: [] })
      assert.deepEqual(path('address.verified[a.b][c]'), { attr: 'address', subs: ['verified'], keys: ['a', 'b', 'c'] })
      assert.deepEqual(path('name[fr-CH]'), { attr: 'name', subs: [], keys: ['fr-CH'] })
      assert.deepEqual(path('température>1'), { attr: 'température', subs: [], keys: [] })
    })

    it('types the values', () => {
      const value = (q: string): unknown => {
        const e = parseQ(q)
        assert.ok(e.type === 'compare')
        return e.value
      }
      assert.deepEqual(value('a==-1.5e3'), { kind: 'single', literal: { type: 'number', value: -1500 } })
      assert.deepEqual(value('a=="a\\"b\\\\c\\d"'), { kind: 'single', literal: { type: 'string', value: 'a"b\\c\\d' } })
      assert.deepEqual(value('a==2018-12-04T12:00:00Z'), { kind: 'single', literal: { type: 'dateTime', value: '2018-12-04T12:00:00Z' } })
      assert.deepEqual(value('a==2018-12-04'), { kind: 'single', literal: { type: 'date', value: '2018-12-04' } })
      assert.deepEqual(value('a==12:00:00Z'), { kind: 'single', literal: { type: 'time', value: '12:00:00Z' } })
      assert.deepEqual(value('a==http://example.org/x?y=1#z'), { kind: 'single', literal: { type: 'uri', value: 'http://example.org/x?y=1#z' } })
      assert.deepEqual(value('a==true'), { kind: 'single', literal: { type: 'boolean', value: true } })
      assert.deepEqual(value('a==1..5'), { kind: 'range', from: { type: 'number', value: 1 }, to: { type: 'number', value: 5 } })
      assert.deepEqual(value('a~="\\d+\\""'), { kind: 'pattern', source: '\\d+"', flags: '' })
      assert.deepEqual(value('a~=(?is)x.y'), { kind: 'pattern', source: 'x.y', flags: 'is' })
      assert.deepEqual(value('a~=(a|b)[)]'), { kind: 'pattern', source: '(a|b)[)]', flags: '' })
    })

    it('flattens groups of the same operator', () => {
      const e = parseQ('(a;b);c;(d|e)')
      assert.equal(e.type, 'and')
      assert.ok(e.type === 'and')
      assert.equal(e.children.length, 4)
      assert.equal(e.children[3].type, 'or')
    })
  })

  describe('binding', () => {
    it('expands attribute and sub-attribute names, not metadata or keys', () => {
      const bound = bindQ(parseQ('temperature.accuracy.observedAt>2020-01-01;address[city]=="x";ex:a.unitCode'), expandTerm)
      assert.ok(bound.expr.type === 'and')
      const paths = bound.expr.children.map(c => c.type === 'compare' || c.type === 'exists' ? c.path : undefined)
      assert.deepEqual(paths, [
        { attr: D + 'temperature', subs: [D + 'accuracy', 'observedAt'], keys: [] },
        { attr: D + 'address', subs: [], keys: ['city'] },
        { attr: 'ex:a', subs: ['unitCode'], keys: [] }
      ])
    })

    it('expands each term once and never while evaluating', () => {
      let calls = 0
      const counting = (t: string): string => { calls++; return expandTerm(t) }
      const bound = bindQ(parseQ('temperature>1;temperature<100|status=="active";kind=="indoor"'), counting)
      const afterBind = calls
      assert.ok(afterBind <= 5, `expanded ${afterBind} times`)
      for (let i = 0; i < 1000; i++) for (const e of ENTITIES) evaluateQ(bound, e)
      assert.equal(calls, afterBind)
    })

    it('lists referenced and required attributes', () => {
      const bound = bindQ(parseQ('a>1;(b|c;b);!d;e.f==1|a;g'), expandTerm)
      assert.deepEqual([...referencedAttributes(bound)].sort(), ['a', 'b', 'c', 'd', 'e', 'g'].map(n => D + n))
      assert.deepEqual([...requiredAttributes(bound)].sort(), [D + 'a'])
      const and = bindQ(parseQ('a>1;(b|c;b);!d;e.f==1'), expandTerm)
      assert.deepEqual([...requiredAttributes(and)].sort(), ['a', 'b', 'e'].map(n => D + n))
      assert.deepEqual([...requiredAttributes(bindQ(parseQ('!a'), expandTerm))], [])
      assert.deepEqual([...requiredAttributes(bindQ(parseQ('a|b'), expandTerm))], [])
    })

    it('does not mistake Object.prototype members for attributes or keys', () => {
      for (const q of ['constructor', 'toString==1', 'address[constructor]', 'name[constructor]', 'temperature.constructor']) {
        const bound = bindQ(parseQ(q), t => t)
        assert.equal(ENTITIES.some(e => evaluateQ(bound, e)), false, q)
      }
    })
  })

  it('evaluates 100,000 entities quickly', () => {
    const bound = bindQ(parseQ('temperature>20;status=="active"|name[fr]~="^T"'), expandTerm)
    const start = performance.now()
    let n = 0
    for (let i = 0; i < 100_000; i++) if (evaluateQ(bound, ENTITIES[i % 3])) n++
    const ms = performance.now() - start
    assert.equal(n, 33_334)
    assert.ok(ms < 1000, `took ${ms.toFixed(0)} ms`)
  })
})

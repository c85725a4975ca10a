import { strict as assert } from 'node:assert'
import { bindTypeSelector, candidateTypes, matchTypes, parseTypeSelector } from '../../../src/ngsi/query/index.ts'
import { DEFAULT_VOCAB } from '../../../src/ngsi/types.ts'
import { errorOf, expandTerm } from './fixtures.ts'

const D = DEFAULT_VOCAB
const types = (...names: string[]): string[] => names.map(expandTerm)

describe('type selection language', () => {
  // [selector, entity types, selected?]
  const cases: Array<[string, string[], boolean]> = [
    ['Building', ['Building'], true],
    ['Building', ['Vehicle'], false],
    ['Building', ['Vehicle', 'Building'], true],
    ['Building,Vehicle', ['Vehicle'], true],
    ['Building,Vehicle', ['Home'], false],
    ['Building|Vehicle', ['Building'], true],
    ['Building;Home', ['Building', 'Home'], true],
    ['Building;Home', ['Building'], false],
    ['Building;Home', ['Home', 'Office', 'Building'], true],
    ['(Building;Home),Vehicle', ['Vehicle'], true],
    ['(Building;Home),Vehicle', ['Home'], false],
    ['(Building;Home),Vehicle', ['Home', 'Building'], true],
    // ';' binds tighter than ',' without parentheses too
    ['Building;Home,Vehicle', ['Vehicle'], true],
    ['Building;(Home,Vehicle)', ['Vehicle'], false],
    ['Building;(Home,Vehicle)', ['Building', 'Vehicle'], true],
    ['((Building))', ['Building'], true],
    [' Building , Vehicle ', ['Vehicle'], true],
    ['( Building ; Home ) | Vehicle', ['Building', 'Home'], true],
    ['https://example.org/types/Car', ['https://example.org/types/Car'], true],
    ['https://example.org/types/Car', ['Car'], false],
    ['ex:Car,Building', ['ex:Car'], true],
    ['urn:type:a.b;Building', ['urn:type:a.b', 'Building'], true]
  ]
  for (const [text, entityTypes, expected] of cases) {
    it(`${text} ${expected ? 'selects' : 'does not select'} [${entityTypes.join(', ')}]`, () => {
      const bound = bindTypeSelector(parseTypeSelector(text), expandTerm)
      assert.equal(matchTypes(bound, types(...entityTypes)), expected)
    })
  }

  // candidateTypes: every selected entity has one of them
  const candidates: Array<[string, string[]]> = [
    ['A', ['A']],
    ['A,B', ['A', 'B']],
    ['A,B,A', ['A', 'B']],
    ['A;B', ['A']],
    ['(A;B),C', ['A', 'C']],
    ['A;(B,C)', ['A']],
    ['(B,C);A', ['A']],
    ['(A,B);(C,D)', ['A', 'B']],
    ['(A;B)|(C;D)', ['A', 'C']]
  ]
  for (const [text, expected] of candidates) {
    it(`candidate types of ${text} are ${expected.join(', ')}`, () => {
      const bound = bindTypeSelector(parseTypeSelector(text), expandTerm)
      assert.deepEqual(candidateTypes(bound), expected.map(t => D + t))
    })
  }

  it('candidate types are sound for every combination of four types', () => {
    const selectors = ['(A;B),C', 'A;(B,C)', '(A,B);(C,D)', 'A;B;C|D', '(A|B);C|D;(A,C)']
    const all = ['A', 'B', 'C', 'D']
    for (const text of selectors) {
      const bound = bindTypeSelector(parseTypeSelector(text), expandTerm)
      const cands = new Set(candidateTypes(bound))
      for (let mask = 1; mask < 16; mask++) {
        const entityTypes = types(...all.filter((_, i) => (mask & (1 << i)) !== 0))
        if (matchTypes(bound, entityTypes)) assert.ok(entityTypes.some(t => cands.has(t)), `${text} selects ${entityTypes.join(',')}`)
      }
    }
  })

  const invalid: Array<[string, number, string]> = [
    ['', 0, 'expected an entity type'],
    ['A,', 2, 'expected an entity type'],
    ['A;;B', 2, 'expected an entity type'],
    ['(A', 2, "the '(' at 0 is not closed"],
    ['A)', 1, "unbalanced ')'"],
    ['A B', 2, "expected ',' '|' ';' or the end of the selector"],
    ['()', 1, 'expected an entity type'],
    ['A,(B;)', 5, 'expected an entity type']
  ]
  for (const [text, position, expected] of invalid) {
    it(`rejects ${JSON.stringify(text)} at position ${position}`, () => {
      const message = errorOf(() => parseTypeSelector(text), 'NGSI_INVALID_REQUEST')
      assert.ok(message.startsWith('type: '), message)
      assert.ok(message.includes(expected), `expected "${expected}" in: ${message}`)
      assert.ok(message.includes(` at position ${position} in '`), `expected position ${position} in: ${message}`)
    })
  }

  it('answers TooComplexQuery for deep nesting and for too many types', () => {
    errorOf(() => parseTypeSelector('('.repeat(40) + 'A' + ')'.repeat(40)), 'NGSI_TOO_COMPLEX_QUERY')
    errorOf(() => parseTypeSelector(Array.from({ length: 300 }, (_, i) => `T${i}`).join(',')), 'NGSI_TOO_COMPLEX_QUERY')
  })

  it('expands names with the given function', () => {
    const bound = bindTypeSelector(parseTypeSelector('(Building;ex:Home),https://example.org/Car'), expandTerm)
    assert.deepEqual(bound.selector, {
      kind: 'or',
      children: [
        { kind: 'and', children: [{ kind: 'type', name: D + 'Building' }, { kind: 'type', name: 'ex:Home' }] },
        { kind: 'type', name: 'https://example.org/Car' }
      ]
    })
  })
})

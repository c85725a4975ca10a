/**
 * Builders for test entities in the internal (expanded) shape of src/ngsi/types.ts, with a tiny
 * @context: the core GeoProperty terms and the `ngsi-ld:` prefix as in the core context, any other
 * term without ':' in the default vocabulary, anything else already an IRI.
 */
import { strict as assert } from 'node:assert'
import type { Attribute, Entity } from '../../../src/ngsi/types.ts'
import { DEFAULT_VOCAB, LOCATION, NGSI_LD, OBSERVATION_SPACE, OPERATION_SPACE } from '../../../src/ngsi/types.ts'

const CORE = new Map([['location', LOCATION], ['observationSpace', OBSERVATION_SPACE], ['operationSpace', OPERATION_SPACE]])

export const expandTerm = (t: string): string =>
  CORE.get(t) ?? (t.startsWith('ngsi-ld:') ? NGSI_LD + t.slice(8) : t.includes(':') ? t : DEFAULT_VOCAB + t)

type Extra = Partial<Omit<Attribute, 'type'>> & { sub?: Record<string, Attribute> }

function withSubs (a: Attribute): Attribute {
  if (a.sub === undefined) return a
  const sub: Record<string, Attribute> = {}
  for (const [k, v] of Object.entries(a.sub)) sub[expandTerm(k)] = v
  return { ...a, sub }
}

export const prop = (value: unknown, extra: Extra = {}): Attribute => withSubs({ type: 'Property', value, ...extra })
export const rel = (object: string | string[], extra: Extra = {}): Attribute => withSubs({ type: 'Relationship', object, ...extra })
export const lang = (languageMap: Record<string, string | string[]>): Attribute => ({ type: 'LanguageProperty', languageMap })
export const vocab = (v: string | string[]): Attribute => ({ type: 'VocabularyProperty', vocab: v })
export const geo = (value: unknown, extra: Extra = {}): Attribute => ({ type: 'GeoProperty', value, ...extra })

/** An entity; attribute names are compact terms (expanded here), a value may list several instances. */
export function entity (id: string, type: string | string[], attrs: Record<string, Attribute | Attribute[]> = {}): Entity {
  const out: Entity = { id, type: (Array.isArray(type) ? type : [type]).map(expandTerm), attrs: {} }
  for (const [name, a] of Object.entries(attrs)) out.attrs[expandTerm(name)] = Array.isArray(a) ? a : [a]
  return out
}

/** Runs `fn`, expecting an error with `code`; returns the error's message. */
export function errorOf (fn: () => unknown, code: string): string {
  try {
    fn()
  } catch (err) {
    const e = err as { code?: string, message?: string }
    assert.equal(e.code, code, `expected ${code}, got ${String(e.code)}: ${String(e.message)}`)
    return e.message ?? ''
  }
  assert.fail(`expected an error ${code}, but nothing was thrown`)
}

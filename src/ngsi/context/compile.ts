/**
 * JSON-LD 1.1 context processing, reduced to what an NGSI-LD broker needs: term definitions
 * (IRI mapping, @type, @container, @prefix, @protected), @vocab, compact IRIs. Scoped contexts
 * (`@context` inside a term definition) are accepted but not applied: NGSI-LD never expands a
 * JSON value with them. The NGSI-LD core context is processed once at load time; every user
 * context is applied to a copy of it, and core terms silently keep their core definition.
 */
import { BadRequestDataError } from '../errors.ts'
import { DEFAULT_VOCAB } from '../types.ts'
import { CORE_CONTEXT_URL, CORE_CONTEXT_URLS, MEMO_LIMIT } from './constants.ts'
import coreDocument from './core-context.json' with { type: 'json' }
import type { CompiledContext, TermDefinition } from './interface.ts'

/** The shipped core context document (`{ "@context": { ... } }`), as served for the core URLs. */
export const CORE_CONTEXT_DOCUMENT: Readonly<{ '@context': Readonly<Record<string, unknown>> }> = coreDocument

const CORE_URLS: ReadonlySet<string> = new Set(CORE_CONTEXT_URLS)

const KEYWORDS: ReadonlySet<string> = new Set([
  '@base', '@container', '@context', '@direction', '@graph', '@id', '@import', '@included', '@index',
  '@json', '@language', '@list', '@nest', '@none', '@prefix', '@propagate', '@protected', '@reverse',
  '@set', '@type', '@value', '@version', '@vocab'
])
const TERM_DEFINITION_MEMBERS: ReadonlySet<string> = new Set([
  '@id', '@reverse', '@type', '@container', '@context', '@prefix', '@protected', '@language',
  '@direction', '@nest', '@index'
])
// Keywords with a meaning at the top of a context definition.
const CONTEXT_KEYWORDS: ReadonlySet<string> = new Set(['@base', '@direction', '@import', '@language', '@propagate', '@protected', '@version', '@vocab'])
const CONTAINERS: ReadonlySet<string> = new Set(['@list', '@set', '@language', '@index', '@graph', '@id', '@type'])
const TYPE_KEYWORDS: ReadonlySet<string> = new Set(['@id', '@vocab', '@json', '@none'])
// JSON-LD 1.1: a simple term whose IRI ends with one of these may serve as a prefix.
const GEN_DELIMS: ReadonlySet<string> = new Set([':', '/', '?', '#', '[', ']', '@'])
// A keyword look-alike (`@foo`): JSON-LD 1.1 ignores such terms and mappings instead of failing.
const KEYWORD_FORM = /^@[A-Za-z]+$/
const ABSOLUTE_IRI = /^[A-Za-z][A-Za-z0-9+.-]*:/
// A vocab-relative name must not read as an IRI, a compact IRI or a path when expanded again.
const NOT_VOCAB_RELATIVE = /[/#:]/

/** One of the URLs ETSI publishes the core context under (served from the shipped file). */
export function isCoreContextUrl (url: string): boolean {
  return CORE_URLS.has(url)
}

export function isKeyword (s: string): boolean {
  return KEYWORDS.has(s)
}

function isPlainObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function invalid (term: string, problem: string): BadRequestDataError {
  return new BadRequestDataError(`invalid @context: term "${term}": ${problem}`, { term })
}

/** Mutable state while contexts are applied; frozen into a CompiledContextImpl afterwards. */
export interface ContextState {
  terms: Map<string, TermDefinition>
  vocab: string
}

/** Applies one local context (a JSON object, never a URL) to `state`. */
export function applyLocalContext (state: ContextState, local: unknown, core = false): void {
  if (!isPlainObject(local)) {
    throw new BadRequestDataError('invalid @context: a context definition must be a JSON object, a URL or an array of those')
  }
  new LocalContextProcessor(state, local, core).run()
}

class LocalContextProcessor {
  private readonly defined = new Map<string, boolean>()
  private readonly protectedByDefault: boolean

  constructor (private readonly state: ContextState, private readonly local: Record<string, unknown>, private readonly core: boolean) {
    const p = local['@protected']
    if (p !== undefined && typeof p !== 'boolean') throw invalid('@protected', 'must be true or false')
    this.protectedByDefault = p === true
  }

  run (): void {
    const { local } = this
    const version = local['@version']
    if (version !== undefined && version !== 1.1) throw invalid('@version', 'must be 1.1')
    if ('@import' in local) throw invalid('@import', 'not supported; list the imported context in the @context array instead')
    if ('@context' in local) throw invalid('@context', 'a context definition cannot contain @context')
    if ('@propagate' in local && typeof local['@propagate'] !== 'boolean') throw invalid('@propagate', 'must be true or false')
    for (const k of ['@base', '@language'] as const) {
      if (k in local && local[k] !== null && typeof local[k] !== 'string') throw invalid(k, 'must be a string or null')
    }
    if ('@vocab' in local) this.setVocab(local['@vocab'])
    for (const term of Object.keys(local)) {
      if (term.startsWith('@')) {
        // @base/@language/@direction change nothing NGSI-LD expands: accepted and ignored;
        // other keywords cannot be redefined; '@'-look-alikes are ignored (JSON-LD 1.1)
        if (term === '@type') this.checkTypeKeywordDefinition(local[term])
        else if (isKeyword(term) && !CONTEXT_KEYWORDS.has(term)) throw invalid(term, 'keywords cannot be redefined')
        continue
      }
      this.createTerm(term)
    }
  }

  private setVocab (v: unknown): void {
    // NGSI-LD needs every name to expand to an IRI, so "no vocabulary" means the core default one
    if (v === null) { this.state.vocab = DEFAULT_VOCAB; return }
    if (typeof v !== 'string' || v === '') throw invalid('@vocab', 'must be an IRI')
    const iri = this.expandIri(v)
    if (iri === null || !ABSOLUTE_IRI.test(iri)) throw invalid('@vocab', `${v} does not expand to an absolute IRI`)
    this.state.vocab = iri
  }

  private checkTypeKeywordDefinition (v: unknown): void {
    // JSON-LD 1.1 allows "@type": { "@container": "@set", "@protected": ... } and nothing else
    if (!isPlainObject(v) || Object.keys(v).some(k => k !== '@container' && k !== '@protected')) {
      throw invalid('@type', 'keywords cannot be redefined')
    }
  }

  private createTerm (term: string): void {
    const state = this.defined.get(term)
    if (state === true) return
    if (state === false) throw invalid(term, 'cyclic IRI mapping')
    this.defined.set(term, false)
    this.defineTerm(term)
    this.defined.set(term, true)
  }

  private defineTerm (term: string): void {
    if (term === '') throw invalid(term, 'the empty string is not a valid term')
    const previous = this.state.terms.get(term)
    // NGSI-LD: core terms are protected. User contexts routinely restate them (often with an
    // older or slightly different IRI), so the restatement is ignored rather than rejected.
    if (!this.core && previous?.core === true) return
    const def = this.buildDefinition(term, this.local[term])
    if (previous?.protected === true && !this.core) {
      if (def === null || !sameDefinition(previous, def)) throw invalid(term, 'a protected term cannot be redefined')
      return
    }
    if (def === null) this.state.terms.delete(term)
    else this.state.terms.set(term, def)
  }

  private buildDefinition (term: string, value: unknown): TermDefinition | null {
    if (value === null) return null
    let def: Record<string, unknown>
    let simple = false
    if (typeof value === 'string') {
      def = { '@id': value }
      simple = true
    } else if (isPlainObject(value)) {
      def = value
      for (const k of Object.keys(def)) {
        if (!TERM_DEFINITION_MEMBERS.has(k)) throw invalid(term, `unknown member "${k}" in the term definition`)
      }
    } else {
      throw invalid(term, 'a term definition must be a string, an object or null')
    }

    let iri: string
    let reverse = false
    if ('@reverse' in def) {
      if ('@id' in def || '@nest' in def) throw invalid(term, '@reverse cannot be combined with @id or @nest')
      const r = def['@reverse']
      if (typeof r !== 'string') throw invalid(term, '@reverse must be a string')
      const e = this.expandIri(r)
      if (e === null || isKeyword(e)) throw invalid(term, `@reverse ${r} is not an IRI`)
      iri = e
      reverse = true
    } else if ('@id' in def && def['@id'] !== term) {
      const id = def['@id']
      if (id === null) return null
      if (typeof id !== 'string') throw invalid(term, '@id must be a string or null')
      if (isKeyword(id)) {
        if (id === '@context') throw invalid(term, '@context cannot be aliased')
        iri = id
      } else if (KEYWORD_FORM.test(id)) {
        return null
      } else {
        const e = this.expandIri(id)
        if (e === null || !(ABSOLUTE_IRI.test(e) || e.startsWith('_:'))) throw invalid(term, `@id ${id} does not expand to an absolute IRI`)
        iri = e
      }
    } else {
      iri = this.iriOfTerm(term)
    }

    let type: string | undefined
    if ('@type' in def) {
      const t = def['@type']
      if (typeof t !== 'string') throw invalid(term, '@type must be a string')
      if (TYPE_KEYWORDS.has(t)) {
        type = t
      } else {
        const e = t.startsWith('@') ? null : this.expandIri(t)
        if (e === null || !ABSOLUTE_IRI.test(e)) throw invalid(term, `@type ${t} is neither @id, @vocab, @json, @none nor an IRI`)
        type = e
      }
    }

    let container: string[] | undefined
    if ('@container' in def && def['@container'] !== null) {
      const c = def['@container']
      const list = Array.isArray(c) ? c : [c]
      for (const item of list) {
        if (typeof item !== 'string' || !CONTAINERS.has(item)) throw invalid(term, `@container ${JSON.stringify(item)} is not a JSON-LD container`)
      }
      container = list as string[]
    }

    let prefix: boolean
    if ('@prefix' in def) {
      if (typeof def['@prefix'] !== 'boolean') throw invalid(term, '@prefix must be true or false')
      if (term.includes(':') || term.includes('/')) throw invalid(term, '@prefix is not allowed on a compact IRI or an IRI')
      prefix = def['@prefix']
    } else {
      prefix = simple && !term.includes(':') && !term.includes('/') && !isKeyword(iri) &&
        (GEN_DELIMS.has(iri[iri.length - 1] ?? '') || iri.startsWith('_:'))
    }

    const p = def['@protected']
    if (p !== undefined && typeof p !== 'boolean') throw invalid(term, '@protected must be true or false')
    if ('@language' in def && def['@language'] !== null && typeof def['@language'] !== 'string') throw invalid(term, '@language must be a string or null')
    if ('@direction' in def && def['@direction'] !== null && def['@direction'] !== 'ltr' && def['@direction'] !== 'rtl') throw invalid(term, '@direction must be "ltr", "rtl" or null')
    if ('@nest' in def && typeof def['@nest'] !== 'string') throw invalid(term, '@nest must be a string')
    if ('@index' in def && typeof def['@index'] !== 'string') throw invalid(term, '@index must be a string')
    const scoped = def['@context']
    if (scoped !== undefined && scoped !== null && typeof scoped !== 'string' && typeof scoped !== 'object') throw invalid(term, 'a scoped @context must be a URL, an object or an array')

    const result: TermDefinition = {
      iri,
      prefix,
      protected: typeof p === 'boolean' ? p : this.protectedByDefault,
      reverse,
      core: this.core,
      ...(type !== undefined ? { type } : {}),
      ...(container !== undefined ? { container } : {})
    }
    return result
  }

  /** The IRI of a term defined without @id (or with @id equal to itself). */
  private iriOfTerm (term: string): string {
    const colon = term.indexOf(':', 1)
    if (colon > 0) {
      const prefix = term.slice(0, colon)
      const suffix = term.slice(colon + 1)
      if (prefix === '_' || suffix.startsWith('//')) return term
      if (Object.hasOwn(this.local, prefix)) this.createTerm(prefix)
      const p = this.state.terms.get(prefix)
      if (p !== undefined && !isKeyword(p.iri)) return p.iri + suffix
      return term
    }
    if (term.includes('/')) throw invalid(term, 'a relative IRI used as a term needs an @id')
    return this.state.vocab + term
  }

  /** JSON-LD IRI expansion with vocab = true, while the local context is being processed. */
  private expandIri (value: string): string | null {
    if (isKeyword(value)) return value
    if (KEYWORD_FORM.test(value)) return null
    if (Object.hasOwn(this.local, value) && this.defined.get(value) !== true) this.createTerm(value)
    const d = this.state.terms.get(value)
    if (d !== undefined) return d.iri
    const colon = value.indexOf(':', 1)
    if (colon > 0) {
      const prefix = value.slice(0, colon)
      const suffix = value.slice(colon + 1)
      if (prefix === '_' || suffix.startsWith('//')) return value
      if (Object.hasOwn(this.local, prefix) && this.defined.get(prefix) !== true) this.createTerm(prefix)
      const p = this.state.terms.get(prefix)
      if (p !== undefined && p.prefix && !isKeyword(p.iri)) return p.iri + suffix
      if (ABSOLUTE_IRI.test(value)) return value
    }
    return this.state.vocab + value
  }
}

function sameDefinition (a: TermDefinition, b: TermDefinition): boolean {
  return a.iri === b.iri && a.type === b.type && a.reverse === b.reverse && a.prefix === b.prefix &&
    (a.container ?? []).join(' ') === (b.container ?? []).join(' ')
}

/** A bounded memo: cleared when full (cheaper than LRU bookkeeping on the hot path). */
function remember (memo: Map<string, string>, k: string, v: string): string {
  if (memo.size >= MEMO_LIMIT) memo.clear()
  memo.set(k, v)
  return v
}

export class CompiledContextImpl implements CompiledContext {
  readonly key: string
  readonly value: unknown
  readonly vocab: string
  readonly terms: ReadonlyMap<string, TermDefinition>
  // IRI → best term (shortest, then lexicographically least, as JSON-LD term selection does)
  private readonly inverse = new Map<string, string>()
  private readonly prefixes: Array<[term: string, iri: string]> = []
  private readonly expandMemo = new Map<string, string>()
  private readonly compactMemo = new Map<string, string>()

  constructor (key: string, value: unknown, state: ContextState) {
    this.key = key
    this.value = value
    this.vocab = state.vocab
    this.terms = state.terms
    for (const [term, def] of state.terms) {
      if (def.reverse || isKeyword(def.iri)) continue
      const best = this.inverse.get(def.iri)
      if (best === undefined || term.length < best.length || (term.length === best.length && term < best)) this.inverse.set(def.iri, term)
      if (def.prefix) this.prefixes.push([term, def.iri])
    }
    this.expandVocab = this.expandVocab.bind(this) as CompiledContext['expandVocab']
    this.compactVocab = this.compactVocab.bind(this) as CompiledContext['compactVocab']
  }

  expandTerm = (term: string): string => {
    const hit = this.expandMemo.get(term)
    if (hit !== undefined) return hit
    return remember(this.expandMemo, term, this.computeExpand(term))
  }

  compactIri = (iri: string): string => {
    const hit = this.compactMemo.get(iri)
    if (hit !== undefined) return hit
    return remember(this.compactMemo, iri, this.computeCompact(iri))
  }

  expandVocab (value: string): string
  expandVocab (value: readonly string[]): string[]
  expandVocab (value: string | readonly string[]): string | string[]
  expandVocab (value: string | readonly string[]): string | string[] {
    if (typeof value === 'string') return this.expandVocabOne(value)
    return value.map(v => this.expandVocabOne(v))
  }

  compactVocab (value: string): string
  compactVocab (value: readonly string[]): string[]
  compactVocab (value: string | readonly string[]): string | string[]
  compactVocab (value: string | readonly string[]): string | string[] {
    if (typeof value === 'string') return this.compactIri(value)
    return value.map(this.compactIri)
  }

  private expandVocabOne (value: string): string {
    const e = this.expandTerm(value)
    // a vocab value is data, not structure: "id" must not turn into @id
    return isKeyword(e) ? this.vocab + value : e
  }

  private computeExpand (term: string): string {
    const d = this.terms.get(term)
    if (d !== undefined) return d.iri
    const colon = term.indexOf(':')
    if (colon > 0) {
      const prefix = term.slice(0, colon)
      const suffix = term.slice(colon + 1)
      if (prefix === '_' || suffix.startsWith('//')) return term
      const p = this.terms.get(prefix)
      if (p !== undefined && p.prefix) return p.iri + suffix
      return term
    }
    if (term.startsWith('@')) return term
    return this.vocab + term
  }

  private computeCompact (iri: string): string {
    const term = this.inverse.get(iri)
    if (term !== undefined) return term
    // vocab-relative before compact IRIs (JSON-LD order): otherwise every default-context name
    // would come out as "ngsi-ld:default-context/name"
    const { vocab } = this
    if (iri.length > vocab.length && iri.startsWith(vocab)) {
      const rest = iri.slice(vocab.length)
      if (!NOT_VOCAB_RELATIVE.test(rest) && !rest.startsWith('@') && !this.terms.has(rest)) return rest
    }
    let best: string | undefined
    for (const [p, piri] of this.prefixes) {
      if (iri.length <= piri.length || !iri.startsWith(piri)) continue
      const candidate = `${p}:${iri.slice(piri.length)}`
      // a term spelled like the candidate would expand to something else
      if (this.terms.has(candidate)) continue
      if (best === undefined || candidate.length < best.length || (candidate.length === best.length && candidate < best)) best = candidate
    }
    return best ?? iri
  }
}

let coreState: ContextState | undefined
let coreCompiled: CompiledContextImpl | undefined

function processedCore (): ContextState {
  if (coreState === undefined) {
    const state: ContextState = { terms: new Map(), vocab: DEFAULT_VOCAB }
    applyLocalContext(state, CORE_CONTEXT_DOCUMENT['@context'], true)
    coreState = state
  }
  return coreState
}

/** The core context alone (what a request without @context gets); `value` is CORE_CONTEXT_URL. */
export function coreContext (): CompiledContext {
  coreCompiled ??= new CompiledContextImpl(CORE_CONTEXT_URL, CORE_CONTEXT_URL, processedCore())
  return coreCompiled
}

/** The core context followed by `locals` (already-loaded context objects, in order). */
export function compileContexts (key: string, value: unknown, locals: readonly unknown[]): CompiledContext {
  const core = processedCore()
  const state: ContextState = { terms: new Map(core.terms), vocab: core.vocab }
  for (const local of locals) applyLocalContext(state, local)
  return new CompiledContextImpl(key, value, state)
}

/**
 * Compiles a @context that needs no loading (objects, arrays of objects, core context URLs)
 * synchronously, without caching. For tests and for contexts known at start-up; requests go
 * through ContextResolver, which also loads URLs and caches.
 */
export function compileInlineContext (context: unknown): CompiledContext {
  if (context === undefined || context === null) return coreContext()
  const locals: unknown[] = []
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) { for (const item of v) walk(item); return }
    if (typeof v === 'string') {
      if (CORE_URLS.has(v)) return
      throw new BadRequestDataError(`@context ${v} must be resolved with a ContextResolver (it needs loading)`)
    }
    if (v === null) throw new BadRequestDataError('invalid @context: null cannot reset the context (NGSI-LD core terms are protected)')
    locals.push(v)
  }
  walk(context)
  return compileContexts(typeof context === 'string' ? context : JSON.stringify(context), context, locals)
}

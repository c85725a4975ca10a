/**
 * Types other modules see: a compiled @context and the resolver's settings.
 */

/** One term definition after JSON-LD context processing (only what NGSI-LD needs). */
export interface TermDefinition {
  /** expanded IRI, or a keyword for aliases such as `id` → `@id` */
  readonly iri: string
  /** may be used as the prefix of compact IRIs (`prefix:suffix`), JSON-LD 1.1 rules */
  readonly prefix: boolean
  /** `@type` of the definition: `@id`, `@vocab`, `@json`, `@none` or an expanded IRI */
  readonly type?: string
  readonly container?: readonly string[]
  readonly protected: boolean
  /** defined with `@reverse` (kept for completeness; never chosen when compacting) */
  readonly reverse: boolean
  /** comes from the NGSI-LD core context (and therefore cannot be overridden) */
  readonly core: boolean
}

/**
 * The result of resolving a request's @context: the core context, then the user contexts, in
 * order. Immutable and shared between requests; the expand/compact memos are internal.
 */
export interface CompiledContext {
  /** cache key derived from the @context value (the URL itself, or the JSON of the value) */
  readonly key: string
  /**
   * The @context to echo in application/ld+json bodies: the request's own @context value as
   * given (a URL, object or array; not expanded, never with the core context added), or
   * CORE_CONTEXT_URL when the request had none. Treat it as read-only.
   */
  readonly value: unknown
  /** the active @vocab (the core default-context vocabulary unless a user context set another) */
  readonly vocab: string
  readonly terms: ReadonlyMap<string, TermDefinition>
  /**
   * Term → IRI: a defined term gives its mapping (which may be a keyword for aliases such as
   * `id`); `prefix:suffix` with a defined prefix gives the prefix IRI + suffix; any other
   * `scheme:rest` is kept as an absolute IRI; anything else is appended to @vocab. Memoised.
   */
  expandTerm: (term: string) => string
  /**
   * IRI → the shortest name that expands back to it: a term mapped to the IRI; else the IRI
   * relative to @vocab when the rest has no '/', '#' or ':' and is not itself a term; else a
   * compact IRI with a defined prefix; else the IRI. Memoised.
   */
  compactIri: (iri: string) => string
  /** VocabularyProperty values (JSON-LD `@type: @vocab`): like expandTerm, never to a keyword */
  expandVocab: {
    (value: string): string
    (value: readonly string[]): string[]
    (value: string | readonly string[]): string | string[]
  }
  compactVocab: {
    (value: string): string
    (value: readonly string[]): string[]
    (value: string | readonly string[]): string | string[]
  }
}

/** Settings of a ContextResolver. Every member is optional; defaults in constants.ts. */
export interface ContextResolverInit {
  /**
   * URL → local file path (absolute, or relative to the working directory) of a JSON-LD document
   * with an `@context` member. Served without network. Default: none.
   */
  localContexts?: Readonly<Record<string, string>>
  /**
   * A directory of preloaded context documents, served without network. A URL is looked up
   * first in `<dir>/index.json` (an object URL → file name relative to the directory), then as
   * the file `<dir>/<encodeURIComponent(url)>.jsonld`. Default: none.
   */
  preloadDir?: string
  /** fetch timeout per remote document; default 5000 ms */
  timeoutMs?: number
  /** largest remote document accepted; default 1 MiB */
  maxBytes?: number
  /** loaded documents kept in the LRU; default 256 */
  maxDocuments?: number
  /** compiled contexts kept in the LRU; default 512 */
  maxCompiled?: number
  /** how deep remote contexts may reference other remote contexts; default 8 */
  maxDepth?: number
  /** fetch URLs that no local source serves; default true. Offline edges set false to fail fast. */
  allowRemote?: boolean
  /** the fetch implementation; default globalThis.fetch */
  fetch?: typeof fetch
}

export interface ResolveOptions {
  /** stops waiting (the shared fetch itself continues for other waiters, bounded by its timeout) */
  signal?: AbortSignal
}

/**
 * ContextResolver: turns a request's @context (absent, a URL from the Link header, or the body's
 * `@context` member) into a CompiledContext. Compiled contexts are cached by a key derived from
 * the value, so the second request with the same Link header costs one map lookup.
 */
import { BadRequestDataError, LdContextNotAvailableError } from '../errors.ts'
import { compileContexts, coreContext, isCoreContextUrl } from './compile.ts'
import { CORE_CONTEXT_URL, DEFAULT_MAX_COMPILED, DEFAULT_MAX_DEPTH } from './constants.ts'
import type { CompiledContext, ContextResolverInit, ResolveOptions } from './interface.ts'
import { DocumentLoader } from './loader.ts'
import { Lru } from './lru.ts'

/** The cache key of a @context value: a URL stands for itself, anything else for its JSON. */
export function contextKey (context: unknown): string {
  if (context === undefined || context === null) return CORE_CONTEXT_URL
  if (typeof context === 'string') return context
  return JSON.stringify(context)
}

async function raceAbort<T> (promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return await promise
  signal.throwIfAborted()
  return await new Promise<T>((resolve, reject) => {
    const onAbort = (): void => { reject(signal.reason) }
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      v => { signal.removeEventListener('abort', onAbort); resolve(v) },
      (err: unknown) => { signal.removeEventListener('abort', onAbort); reject(err) }
    )
  })
}

export class ContextResolver {
  private readonly loader: DocumentLoader
  private readonly compiled: Lru<string, CompiledContext>
  private readonly compiling = new Map<string, Promise<CompiledContext>>()
  private readonly maxDepth: number

  constructor (init: ContextResolverInit = {}) {
    this.loader = new DocumentLoader(init)
    this.compiled = new Lru(init.maxCompiled ?? DEFAULT_MAX_COMPILED)
    this.maxDepth = init.maxDepth ?? DEFAULT_MAX_DEPTH
  }

  /** Nothing to start: documents are loaded on first use. Present for the node's lifecycle. */
  async start (): Promise<void> {}

  /** Aborts loads in flight. The resolver stays usable (it holds no timers). */
  async stop (): Promise<void> {
    this.loader.abort()
  }

  /** The core context alone: what a request without @context gets. */
  get core (): CompiledContext {
    return coreContext()
  }

  /** Documents read from disk or fetched so far (cache misses). */
  get loads (): number {
    return this.loader.loads
  }

  /** Forgets cached documents (one URL, or all) and every compiled context. */
  clear (url?: string): void {
    this.loader.clear(url)
    this.compiled.clear()
  }

  /**
   * Resolves `context` (undefined/null, a URL, a context object, or an array of those) after the
   * implicit core context. Throws LdContextNotAvailableError when a referenced document cannot
   * be loaded and BadRequestDataError when a context is malformed.
   */
  async resolve (context: unknown, options: ResolveOptions = {}): Promise<CompiledContext> {
    const key = contextKey(context)
    if (key === CORE_CONTEXT_URL) return coreContext()
    const hit = this.compiled.get(key)
    if (hit !== undefined) return hit
    let p = this.compiling.get(key)
    if (p === undefined) {
      p = this.compile(key, context).finally(() => { this.compiling.delete(key) })
      this.compiling.set(key, p)
    }
    return await raceAbort(p, options.signal)
  }

  private async compile (key: string, context: unknown): Promise<CompiledContext> {
    const locals: unknown[] = []
    await this.collect(context, undefined, [], locals, true)
    const compiled = compileContexts(key, context, locals)
    this.compiled.set(key, compiled)
    return compiled
  }

  /** Flattens `value` into context objects in application order, loading URLs on the way. */
  private async collect (value: unknown, base: string | undefined, chain: readonly string[], out: unknown[], top: boolean): Promise<void> {
    if (value === null || value === undefined) {
      // JSON-LD would reset the active context here, which the protected core terms forbid
      if (top) return
      throw new BadRequestDataError('invalid @context: null cannot reset the context (NGSI-LD core terms are protected)')
    }
    if (typeof value === 'string') {
      const url = this.absoluteUrl(value, base)
      if (isCoreContextUrl(url)) return // applied implicitly, first
      if (chain.includes(url)) throw new BadRequestDataError(`invalid @context: ${url} includes itself`, { url })
      if (chain.length >= this.maxDepth) throw new LdContextNotAvailableError(url, `more than ${this.maxDepth} levels of nested remote contexts`)
      const inner = await this.loader.load(url)
      // a null @context inside a fetched document is as forbidden as anywhere else
      if (inner === null) throw new BadRequestDataError(`invalid @context: ${url} resets the context with null`, { url })
      await this.collect(inner, url, [...chain, url], out, false)
      return
    }
    if (Array.isArray(value)) {
      for (const item of value) await this.collect(item, base, chain, out, false)
      return
    }
    if (typeof value === 'object') {
      out.push(value)
      return
    }
    throw new BadRequestDataError(`invalid @context: ${JSON.stringify(value)} is neither a URL, an object nor an array`)
  }

  /** Absolute URLs are kept exactly as written (local maps are keyed by the string given);
   * relative ones are only meaningful inside a fetched document, against its URL. */
  private absoluteUrl (value: string, base: string | undefined): string {
    if (URL.canParse(value)) return value
    if (base !== undefined && URL.canParse(value, base)) return new URL(value, base).href
    throw new BadRequestDataError(`invalid @context: ${JSON.stringify(value)} is not an absolute URL`)
  }
}

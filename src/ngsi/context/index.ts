/**
 * NGSI-LD @context handling. A request names its @context in the Link header or in the body;
 * ContextResolver turns that into a CompiledContext: the NGSI-LD core context (v1.8, shipped in
 * the package, always applied first, its terms protected), then the user's contexts in order.
 * URLs are served from a local map or a preload directory when configured (edge domains are
 * offline), else fetched once over HTTP(S) and cached; compiled contexts are cached by value.
 * The CompiledContext expands request names to IRIs and compacts stored IRIs for responses.
 *
 * @example
 * ```ts
 * const contexts = new ContextResolver({ preloadDir: '/etc/cmesh/contexts' })
 * const ctx = await contexts.resolve(linkHeaderUrl ?? body['@context'], { signal })
 * ctx.expandTerm('cpuCores')                               // 'https://uri.etsi.org/ngsi-ld/default-context/cpuCores'
 * ctx.compactIri('https://uri.etsi.org/ngsi-ld/location')  // 'location'
 * const reply = { ...entityJson, '@context': ctx.value }   // application/ld+json echoes the request's context
 * ```
 */
export { ContextResolver, contextKey } from './resolver.ts'
export { CORE_CONTEXT_DOCUMENT, compileInlineContext, coreContext, isCoreContextUrl, isKeyword } from './compile.ts'
export {
  CORE_CONTEXT_URL, CORE_CONTEXT_URLS, DEFAULT_MAX_BYTES, DEFAULT_MAX_COMPILED, DEFAULT_MAX_DEPTH,
  DEFAULT_MAX_DOCUMENTS, DEFAULT_TIMEOUT_MS, PRELOAD_INDEX, PRELOAD_SUFFIX
} from './constants.ts'
export type { CompiledContext, ContextResolverInit, ResolveOptions, TermDefinition } from './interface.ts'

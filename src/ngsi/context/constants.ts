/**
 * Constants of the @context module. Each value says why it is what it is.
 */

/** The URL we echo when a request brought no @context: the newest core context we ship (v1.8). */
export const CORE_CONTEXT_URL = 'https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld'

/**
 * Every URL under which ETSI publishes (a version of) the core context. All of them are served
 * from the shipped v1.8 file: the versions only ever added terms, never changed a mapping, and
 * the core context is applied implicitly anyway, so naming an older one must not cost a fetch
 * (edge domains are often offline).
 */
export const CORE_CONTEXT_URLS: readonly string[] = [
  'https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld',
  'https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.3.jsonld',
  'https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.4.jsonld',
  'https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.5.jsonld',
  'https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld',
  'https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.7.jsonld',
  CORE_CONTEXT_URL
]

/** 5 s: the NGSI-LD API has no standard value; long enough for a slow uplink, short enough that a
 * dead context server does not hold every request of a tenant hostage. */
export const DEFAULT_TIMEOUT_MS = 5_000

/** 1 MiB: real @context documents are a few KiB (the core one ~10 KiB); this stops a hostile or
 * misconfigured URL from filling memory. */
export const DEFAULT_MAX_BYTES = 1024 * 1024

/** Fetched/loaded documents kept (LRU). A federation uses a handful of contexts; 256 is generous. */
export const DEFAULT_MAX_DOCUMENTS = 256

/** Compiled contexts kept (LRU). Inline body contexts are keyed by their JSON, so clients that
 * vary them (e.g. adding a term per request) would otherwise grow the cache without bound. */
export const DEFAULT_MAX_COMPILED = 512

/** How deep remote contexts may reference further remote contexts (JSON-LD "context overflow"). */
export const DEFAULT_MAX_DEPTH = 8

/** Per compiled context: memoised term expansions/compactions. Names come from requests, so the
 * memo is bounded (cleared when full) to keep random attribute names from leaking memory. */
export const MEMO_LIMIT = 10_000

/** In a preload directory, this optional file maps URL → file name (relative to the directory). */
export const PRELOAD_INDEX = 'index.json'

/** Suffix of preloaded files named after their URL: encodeURIComponent(url) + '.jsonld'. */
export const PRELOAD_SUFFIX = '.jsonld'

/** What we ask context servers for; some only serve JSON-LD with the right Accept. */
export const ACCEPT = 'application/ld+json, application/json;q=0.9, */*;q=0.1'

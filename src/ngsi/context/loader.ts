/**
 * Loads @context documents by URL: the shipped core context, then local files (a URL → path map,
 * then a preload directory), then HTTP(S). Each document is loaded once (concurrent requests for
 * the same URL share one load) and kept in an LRU. Failed loads are not cached, so a context
 * server that comes back is used again on the next request.
 */
import { access, readFile } from 'node:fs/promises'
import { join, resolve as resolvePath } from 'node:path'
import { LdContextNotAvailableError } from '../errors.ts'
import { CORE_CONTEXT_DOCUMENT, isCoreContextUrl } from './compile.ts'
import {
  ACCEPT, DEFAULT_MAX_BYTES, DEFAULT_MAX_DOCUMENTS, DEFAULT_TIMEOUT_MS, PRELOAD_INDEX, PRELOAD_SUFFIX
} from './constants.ts'
import type { ContextResolverInit } from './interface.ts'
import { Lru } from './lru.ts'

function isPlainObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function errorText (err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause
    return cause instanceof Error ? `${err.message} (${cause.message})` : err.message
  }
  return String(err)
}

export class DocumentLoader {
  private readonly documents: Lru<string, unknown>
  private readonly loading = new Map<string, Promise<unknown>>()
  private readonly localContexts: ReadonlyMap<string, string>
  private readonly preloadDir: string | undefined
  private preloadIndex: Promise<ReadonlyMap<string, string>> | undefined
  private readonly timeoutMs: number
  private readonly maxBytes: number
  private readonly allowRemote: boolean
  private readonly fetchFn: typeof fetch
  private controller = new AbortController()
  /** documents read from disk or network (not cache hits): lets tests and metrics see the cache work */
  loads = 0

  constructor (init: ContextResolverInit = {}) {
    this.documents = new Lru(init.maxDocuments ?? DEFAULT_MAX_DOCUMENTS)
    this.localContexts = new Map(Object.entries(init.localContexts ?? {}).map(([url, path]) => [url, resolvePath(path)]))
    this.preloadDir = init.preloadDir !== undefined ? resolvePath(init.preloadDir) : undefined
    this.timeoutMs = init.timeoutMs ?? DEFAULT_TIMEOUT_MS
    this.maxBytes = init.maxBytes ?? DEFAULT_MAX_BYTES
    this.allowRemote = init.allowRemote ?? true
    this.fetchFn = init.fetch ?? globalThis.fetch
  }

  /** Aborts loads in flight (they fail with LdContextNotAvailable); later loads work again. */
  abort (): void {
    this.controller.abort(new Error('context resolver stopped'))
    this.controller = new AbortController()
  }

  clear (url?: string): void {
    if (url === undefined) {
      this.documents.clear()
      this.preloadIndex = undefined
    } else {
      this.documents.delete(url)
    }
  }

  /** The `@context` member of the document at `url`. */
  async load (url: string): Promise<unknown> {
    if (isCoreContextUrl(url)) return CORE_CONTEXT_DOCUMENT['@context']
    const hit = this.documents.get(url)
    if (hit !== undefined) return hit
    let p = this.loading.get(url)
    if (p === undefined) {
      p = this.loadUncached(url).then(ctx => {
        this.documents.set(url, ctx)
        return ctx
      }).finally(() => { this.loading.delete(url) })
      this.loading.set(url, p)
    }
    return await p
  }

  private async loadUncached (url: string): Promise<unknown> {
    this.loads++
    const text = await this.readSource(url)
    let doc: unknown
    try {
      doc = JSON.parse(text)
    } catch (err) {
      throw new LdContextNotAvailableError(url, `not JSON: ${errorText(err)}`)
    }
    if (!isPlainObject(doc) || !('@context' in doc)) throw new LdContextNotAvailableError(url, 'the document has no @context member')
    return doc['@context']
  }

  private async readSource (url: string): Promise<string> {
    const path = this.localContexts.get(url) ?? await this.preloadedPath(url)
    if (path !== undefined) {
      try {
        return await readFile(path, 'utf8')
      } catch (err) {
        throw new LdContextNotAvailableError(url, `local copy ${path} cannot be read: ${errorText(err)}`)
      }
    }
    return await this.fetchRemote(url)
  }

  private async preloadedPath (url: string): Promise<string | undefined> {
    const dir = this.preloadDir
    if (dir === undefined) return undefined
    const index = await (this.preloadIndex ??= this.readPreloadIndex(dir))
    const named = index.get(url)
    if (named !== undefined) return named
    const file = join(dir, encodeURIComponent(url) + PRELOAD_SUFFIX)
    try {
      await access(file)
      return file
    } catch {
      return undefined
    }
  }

  private async readPreloadIndex (dir: string): Promise<ReadonlyMap<string, string>> {
    let text: string
    try {
      text = await readFile(join(dir, PRELOAD_INDEX), 'utf8')
    } catch {
      return new Map()
    }
    let index: unknown
    try {
      index = JSON.parse(text)
    } catch (err) {
      this.preloadIndex = undefined
      throw new LdContextNotAvailableError(join(dir, PRELOAD_INDEX), `not JSON: ${errorText(err)}`)
    }
    if (!isPlainObject(index) || Object.values(index).some(v => typeof v !== 'string')) {
      this.preloadIndex = undefined
      throw new LdContextNotAvailableError(join(dir, PRELOAD_INDEX), 'must map each URL to a file name')
    }
    return new Map(Object.entries(index as Record<string, string>).map(([u, f]) => [u, resolvePath(dir, f)]))
  }

  private async fetchRemote (url: string): Promise<string> {
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      throw new LdContextNotAvailableError(url, 'not a URL')
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new LdContextNotAvailableError(url, `no local copy is configured and ${parsed.protocol} URLs are not fetched`)
    }
    if (!this.allowRemote) throw new LdContextNotAvailableError(url, 'no local copy is configured and remote contexts are disabled')
    const timeout = AbortSignal.timeout(this.timeoutMs)
    const signal = AbortSignal.any([timeout, this.controller.signal])
    try {
      const res = await this.fetchFn(url, { headers: { accept: ACCEPT }, redirect: 'follow', signal })
      if (!res.ok) {
        await res.body?.cancel().catch(() => {})
        throw new LdContextNotAvailableError(url, `HTTP ${res.status}`)
      }
      const declared = Number(res.headers.get('content-length') ?? NaN)
      if (declared > this.maxBytes) {
        await res.body?.cancel().catch(() => {})
        throw new LdContextNotAvailableError(url, `larger than ${this.maxBytes} bytes`)
      }
      return await this.readLimited(url, res)
    } catch (err) {
      if (err instanceof LdContextNotAvailableError) throw err
      if (timeout.aborted) throw new LdContextNotAvailableError(url, `no answer within ${this.timeoutMs} ms`)
      throw new LdContextNotAvailableError(url, errorText(err))
    }
  }

  private async readLimited (url: string, res: Response): Promise<string> {
    if (res.body === null) return ''
    const reader = res.body.getReader()
    const chunks: Uint8Array[] = []
    let size = 0
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      size += value.byteLength
      if (size > this.maxBytes) {
        await reader.cancel().catch(() => {})
        throw new LdContextNotAvailableError(url, `larger than ${this.maxBytes} bytes`)
      }
      chunks.push(value)
    }
    return Buffer.concat(chunks).toString('utf8')
  }
}

import { strict as assert } from 'node:assert'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  CORE_CONTEXT_URL, CORE_CONTEXT_URLS, ContextResolver, contextKey
} from '../../../src/ngsi/context/index.ts'
import { Lru } from '../../../src/ngsi/context/lru.ts'
import { BadRequestDataError, LdContextNotAvailableError } from '../../../src/ngsi/errors.ts'

const NGSI = 'https://uri.etsi.org/ngsi-ld/'
const AEROS = 'https://w3id.org/aerOS/continuum#'

const aerosContext = { '@context': { aeros: AEROS, cpuCores: 'aeros:cpuCores', domain: { '@id': 'aeros:domain', '@type': '@id' } } }

/** A fetch that fails the test if it is ever called: proves a source was served locally. */
const noNetwork: typeof fetch = async (input) => { throw new Error(`unexpected fetch of ${String(input)}`) }

async function rejectsWith (p: Promise<unknown>, code: string, fragment: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof Error && 'code' in err, `expected a coded error, got ${String(err)}`)
    assert.equal((err as { code: string }).code, code, err.message)
    assert.ok(err.message.includes(fragment), `"${err.message}" should contain "${fragment}"`)
    return true
  })
}

describe('ngsi/context ContextResolver', () => {
  describe('without network', () => {
    it('gives the core context for no @context', async () => {
      const r = new ContextResolver({ fetch: noNetwork })
      for (const none of [undefined, null]) {
        const ctx = await r.resolve(none)
        assert.equal(ctx.value, CORE_CONTEXT_URL)
        assert.equal(ctx.expandTerm('location'), NGSI + 'location')
        assert.equal(ctx, r.core)
      }
    })

    it('serves every core context URL from the shipped file', async () => {
      const r = new ContextResolver({ fetch: noNetwork })
      for (const url of CORE_CONTEXT_URLS) {
        const ctx = await r.resolve(url)
        assert.equal(ctx.value, url)
        assert.equal(ctx.expandTerm('value'), NGSI + 'hasValue')
      }
      assert.equal(r.loads, 0)
    })

    it('compiles inline objects and mixed arrays, and caches them by value', async () => {
      const r = new ContextResolver({ fetch: noNetwork })
      const value = [{ aeros: AEROS, cpuCores: 'aeros:cpuCores' }, CORE_CONTEXT_URL]
      const a = await r.resolve(value)
      assert.equal(a.expandTerm('cpuCores'), AEROS + 'cpuCores')
      assert.deepEqual(a.value, value)
      assert.equal(a.key, contextKey(value))
      const b = await r.resolve(JSON.parse(JSON.stringify(value)))
      assert.equal(a, b, 'the second resolve is a cache hit')
    })

    it('serves URLs from the local map', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'cmesh-ctx-'))
      try {
        await writeFile(join(dir, 'aeros.jsonld'), JSON.stringify(aerosContext))
        const url = 'https://aeros.example/context.jsonld'
        const r = new ContextResolver({ fetch: noNetwork, localContexts: { [url]: join(dir, 'aeros.jsonld') } })
        const ctx = await r.resolve(url)
        assert.equal(ctx.expandTerm('domain'), AEROS + 'domain')
        assert.equal(ctx.value, url)
        await r.resolve([url, { extra: 'https://x.org/extra' }])
        assert.equal(r.loads, 1, 'the document is loaded once')
        await rejectsWith(new ContextResolver({ fetch: noNetwork, localContexts: { [url]: join(dir, 'missing.jsonld') } }).resolve(url),
          'NGSI_LD_CONTEXT_NOT_AVAILABLE', 'cannot be read')
      } finally {
        await rm(dir, { recursive: true, force: true })
      }
    })

    it('serves URLs from a preload directory (encoded file names and index.json)', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'cmesh-ctx-'))
      try {
        const byName = 'https://aeros.example/v1/context.jsonld'
        const byIndex = 'https://models.example/ctx?version=2'
        await writeFile(join(dir, encodeURIComponent(byName) + '.jsonld'), JSON.stringify(aerosContext))
        await writeFile(join(dir, 'models.json'), JSON.stringify({ '@context': { speed: 'https://models.example/speed' } }))
        await writeFile(join(dir, 'index.json'), JSON.stringify({ [byIndex]: 'models.json' }))
        const r = new ContextResolver({ fetch: noNetwork, preloadDir: dir, allowRemote: false })
        assert.equal((await r.resolve(byName)).expandTerm('cpuCores'), AEROS + 'cpuCores')
        assert.equal((await r.resolve(byIndex)).expandTerm('speed'), 'https://models.example/speed')
        await rejectsWith(r.resolve('https://unknown.example/ctx.jsonld'), 'NGSI_LD_CONTEXT_NOT_AVAILABLE', 'remote contexts are disabled')
      } finally {
        await rm(dir, { recursive: true, force: true })
      }
    })

    const invalid: Array<[string, unknown, string]> = [
      ['a relative URL', 'context.jsonld', 'is not an absolute URL'],
      ['a number', 5, 'is neither a URL, an object nor an array'],
      ['a bad term definition', { temp: 5 }, 'term "temp"'],
      ['null inside an array', [CORE_CONTEXT_URL, null], 'null cannot reset the context']
    ]
    for (const [what, value, fragment] of invalid) {
      it(`rejects ${what} with BadRequestData`, async () => {
        await rejectsWith(new ContextResolver({ fetch: noNetwork }).resolve(value), 'NGSI_BAD_REQUEST_DATA', fragment)
      })
    }

    it('refuses a URL scheme it cannot fetch', async () => {
      await rejectsWith(new ContextResolver({ fetch: noNetwork }).resolve('urn:x:context'), 'NGSI_LD_CONTEXT_NOT_AVAILABLE', 'urn: URLs are not fetched')
    })
  })

  describe('over HTTP (127.0.0.1)', () => {
    let server: Server
    let base: string
    const hits = new Map<string, number>()
    const accepts: string[] = []
    let failNext = false

    const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = {
      '/aeros.jsonld': (_req, res) => { res.setHeader('content-type', 'application/ld+json'); res.end(JSON.stringify(aerosContext)) },
      '/nested.jsonld': (_req, res) => { res.end(JSON.stringify({ '@context': ['./aeros.jsonld', { ramCapacity: 'aeros:ramCapacity' }] })) },
      '/deep.jsonld': (_req, res) => { res.end(JSON.stringify({ '@context': 'nested.jsonld' })) },
      '/self.jsonld': (_req, res) => { res.end(JSON.stringify({ '@context': ['/self.jsonld'] })) },
      '/flaky.jsonld': (_req, res) => {
        if (failNext) { failNext = false; res.statusCode = 500; res.end('oops'); return }
        res.end(JSON.stringify({ '@context': { flaky: 'https://x.org/flaky' } }))
      },
      '/missing.jsonld': (_req, res) => { res.statusCode = 404; res.end() },
      '/notjson.jsonld': (_req, res) => { res.end('<html>hello</html>') },
      '/nocontext.jsonld': (_req, res) => { res.end(JSON.stringify({ aeros: AEROS })) },
      '/badterm.jsonld': (_req, res) => { res.end(JSON.stringify({ '@context': { broken: { '@id': 42 } } })) },
      '/big.jsonld': (_req, res) => { res.end(JSON.stringify({ '@context': { pad: 'https://x.org/' + 'a'.repeat(5000) } })) },
      '/chunked.jsonld': (_req, res) => { res.write('{"@context": {"pad": "https://x.org/'); res.write('a'.repeat(5000)); res.end('"}}') },
      '/slow.jsonld': () => { /* never answers */ }
    }

    before(async () => {
      server = createServer((req, res) => {
        const path = (req.url ?? '').split('?')[0] as string
        hits.set(path, (hits.get(path) ?? 0) + 1)
        accepts.push(req.headers.accept ?? '')
        const route = routes[path]
        if (route === undefined) { res.statusCode = 404; res.end(); return }
        route(req, res)
      })
      await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    })

    after(async () => {
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => { resolve() }))
    })

    beforeEach(() => { hits.clear(); accepts.length = 0 })

    it('fetches a Link-header context once and caches the document and the compiled context', async () => {
      const r = new ContextResolver()
      const url = `${base}/aeros.jsonld`
      const [a, b] = await Promise.all([r.resolve(url), r.resolve(url)])
      const c = await r.resolve(url)
      assert.equal(a, b)
      assert.equal(a, c)
      assert.equal(a.expandTerm('cpuCores'), AEROS + 'cpuCores')
      assert.equal(a.value, url)
      await r.resolve([url, { other: 'https://x.org/other' }])
      assert.equal(hits.get('/aeros.jsonld'), 1, 'fetched exactly once')
      assert.match(accepts[0] as string, /^application\/ld\+json/)
    })

    it('follows nested and relative context references in fetched documents', async () => {
      const r = new ContextResolver()
      const ctx = await r.resolve(`${base}/deep.jsonld`)
      assert.equal(ctx.expandTerm('cpuCores'), AEROS + 'cpuCores')
      assert.equal(ctx.expandTerm('ramCapacity'), AEROS + 'ramCapacity')
      assert.deepEqual([...hits.keys()].sort(), ['/aeros.jsonld', '/deep.jsonld', '/nested.jsonld'])
    })

    it('stops at a context that includes itself and at the nesting limit', async () => {
      await rejectsWith(new ContextResolver().resolve(`${base}/self.jsonld`), 'NGSI_BAD_REQUEST_DATA', 'includes itself')
      await rejectsWith(new ContextResolver({ maxDepth: 2 }).resolve(`${base}/deep.jsonld`), 'NGSI_LD_CONTEXT_NOT_AVAILABLE', 'nested remote contexts')
    })

    const unavailable: Array<[string, string, Record<string, unknown>, string]> = [
      ['an HTTP error', '/missing.jsonld', {}, 'HTTP 404'],
      ['a document that is not JSON', '/notjson.jsonld', {}, 'not JSON'],
      ['a document without @context', '/nocontext.jsonld', {}, 'has no @context'],
      ['a document over the size limit (content-length)', '/big.jsonld', { maxBytes: 1000 }, 'larger than 1000 bytes'],
      ['a document over the size limit (streamed)', '/chunked.jsonld', { maxBytes: 1000 }, 'larger than 1000 bytes'],
      ['a server that does not answer in time', '/slow.jsonld', { timeoutMs: 200 }, 'no answer within 200 ms']
    ]
    for (const [what, path, init, fragment] of unavailable) {
      it(`reports LdContextNotAvailable for ${what}`, async () => {
        await rejectsWith(new ContextResolver(init).resolve(`${base}${path}`), 'NGSI_LD_CONTEXT_NOT_AVAILABLE', fragment)
      })
    }

    it('reports BadRequestData for a bad term in a fetched context', async () => {
      await rejectsWith(new ContextResolver().resolve(`${base}/badterm.jsonld`), 'NGSI_BAD_REQUEST_DATA', 'term "broken"')
    })

    it('reports an unreachable server as LdContextNotAvailable', async () => {
      const closed = createServer()
      await new Promise<void>(resolve => closed.listen(0, '127.0.0.1', resolve))
      const port = (closed.address() as AddressInfo).port
      await new Promise<void>(resolve => closed.close(() => { resolve() }))
      const err = await new ContextResolver({ timeoutMs: 2000 }).resolve(`http://127.0.0.1:${port}/ctx.jsonld`).then(() => undefined, (e: unknown) => e)
      assert.ok(err instanceof LdContextNotAvailableError)
      assert.equal(err.code, 'NGSI_LD_CONTEXT_NOT_AVAILABLE')
      assert.deepEqual(err.data, { url: `http://127.0.0.1:${port}/ctx.jsonld` })
    })

    it('does not cache failures', async () => {
      const r = new ContextResolver()
      failNext = true
      await rejectsWith(r.resolve(`${base}/flaky.jsonld`), 'NGSI_LD_CONTEXT_NOT_AVAILABLE', 'HTTP 500')
      assert.equal((await r.resolve(`${base}/flaky.jsonld`)).expandTerm('flaky'), 'https://x.org/flaky')
      assert.equal(hits.get('/flaky.jsonld'), 2)
    })

    it('fetches again after clear(url)', async () => {
      const r = new ContextResolver()
      await r.resolve(`${base}/aeros.jsonld`)
      r.clear(`${base}/aeros.jsonld`)
      await r.resolve(`${base}/aeros.jsonld`)
      assert.equal(hits.get('/aeros.jsonld'), 2)
    })

    it('stops waiting when the caller aborts, and stop() aborts loads in flight', async () => {
      const r = new ContextResolver({ timeoutMs: 10_000 })
      const controller = new AbortController()
      const waiting = r.resolve(`${base}/slow.jsonld`, { signal: controller.signal })
      controller.abort(new Error('client went away'))
      await assert.rejects(waiting, /client went away/)
      const pending = r.resolve(`${base}/slow.jsonld`)
      await r.stop()
      await rejectsWith(pending, 'NGSI_LD_CONTEXT_NOT_AVAILABLE', 'context resolver stopped')
    })

    it('fails fast without a request when remote contexts are disabled', async () => {
      await rejectsWith(new ContextResolver({ allowRemote: false }).resolve(`${base}/aeros.jsonld`), 'NGSI_LD_CONTEXT_NOT_AVAILABLE', 'remote contexts are disabled')
      assert.equal(hits.size, 0)
    })
  })

  describe('Lru', () => {
    it('drops the least recently used entry', () => {
      const lru = new Lru<string, number>(2)
      lru.set('a', 1)
      lru.set('b', 2)
      assert.equal(lru.get('a'), 1)
      lru.set('c', 3)
      assert.equal(lru.get('b'), undefined)
      assert.equal(lru.get('a'), 1)
      assert.equal(lru.get('c'), 3)
      assert.equal(lru.size, 2)
    })

    it('bounds the compiled-context cache', async () => {
      const r = new ContextResolver({ maxCompiled: 2, fetch: noNetwork })
      const first = await r.resolve({ a: 'https://x.org/a' })
      await r.resolve({ b: 'https://x.org/b' })
      await r.resolve({ c: 'https://x.org/c' })
      assert.notEqual(await r.resolve({ a: 'https://x.org/a' }), first, 'evicted, compiled again')
    })
  })

  it('types errors by their classes too', () => {
    assert.ok(new LdContextNotAvailableError('u', 'r') instanceof Error)
    assert.ok(new BadRequestDataError('m') instanceof Error)
  })
})

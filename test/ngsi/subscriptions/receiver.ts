/**
 * Test helpers for subscriptions: a notification receiver (a real HTTP server on 127.0.0.1 that
 * records every request and answers as told per path) and a small API client.
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http'
import { waitFor } from '../../helpers/index.ts'

export interface Received {
  path: string
  headers: IncomingHttpHeaders
  text: string
  body: any
}

/** What to answer: a status, or 'hang' to never answer. */
export type Behaviour = (request: Received, nth: number) => number | 'hang'

export class Receiver {
  readonly requests: Received[] = []
  private readonly behaviours = new Map<string, Behaviour>()
  private readonly hanging: ServerResponse[] = []
  private server!: Server
  base = ''

  static async start (): Promise<Receiver> {
    const r = new Receiver()
    r.server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let body: unknown
        try { body = JSON.parse(text) } catch { body = undefined }
        const path = (req.url ?? '').split('?')[0]
        const received: Received = { path, headers: req.headers, text, body }
        r.requests.push(received)
        const nth = r.on(path).length
        const answer = (r.behaviours.get(path) ?? (() => 204))(received, nth)
        if (answer === 'hang') { r.hanging.push(res); return }
        res.statusCode = answer
        res.end()
      })
    })
    await new Promise<void>(resolve => r.server.listen(0, '127.0.0.1', resolve))
    const addr = r.server.address()
    r.base = `http://127.0.0.1:${typeof addr === 'object' && addr != null ? addr.port : 0}`
    return r
  }

  /** The endpoint URL of a path. */
  url (path: string): string {
    return this.base + path
  }

  behave (path: string, b: Behaviour): void {
    this.behaviours.set(path, b)
  }

  /** Requests received on a path, in arrival order. */
  on (path: string): Received[] {
    return this.requests.filter(r => r.path === path)
  }

  /** Requests on a path still waiting for an answer ('hang'). */
  get pending (): number {
    return this.hanging.filter(r => !r.writableEnded && !r.destroyed).length
  }

  async waitFor (path: string, n: number, what = `${n} notification(s) on ${path}`, timeoutMs = 10_000): Promise<Received[]> {
    return await waitFor(() => this.on(path).length >= n ? this.on(path) : null, what, timeoutMs, 20)
  }

  async close (): Promise<void> {
    for (const res of this.hanging) res.destroy()
    this.server.closeAllConnections()
    await new Promise<void>(resolve => this.server.close(() => resolve()))
  }
}

export { client, ETSI, type Answer, type CallOptions } from '../api/client.ts'
export const P = '/ngsi-ld/v1'
export const CTX_LINK = (url: string): string => `<${url}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"`

/** A server of one @context document (what a Link header points to). */
export async function contextServer (context: Record<string, unknown>): Promise<{ url: string, close: () => Promise<void> }> {
  const server = createServer((_req, res) => {
    res.setHeader('content-type', 'application/ld+json')
    res.end(JSON.stringify({ '@context': context }))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const addr = server.address()
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr != null ? addr.port : 0}/context.jsonld`
  return {
    url,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}

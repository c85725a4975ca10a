/**
 * Content negotiation and @context selection for NGSI-LD requests (clauses 6.3.4–6.3.6):
 * which @context applies to a request, and which representation the response uses.
 */
import type { FastifyRequest } from 'fastify'
import { BadRequestDataError, NotAcceptableError, UnsupportedMediaTypeError } from '../errors.ts'

export const JSON_LD = 'application/ld+json'
export const JSON_TYPE = 'application/json'
export const GEO_JSON = 'application/geo+json'
export const MERGE_PATCH = 'application/merge-patch+json'
export const CONTEXT_REL = 'http://www.w3.org/ns/json-ld#context'

export type ResponseType = typeof JSON_TYPE | typeof JSON_LD | typeof GEO_JSON

/** The media type of the request body, without parameters (lower case), or '' when absent. */
export function requestMediaType (req: FastifyRequest): string {
  const ct = req.headers['content-type']
  return ct == null ? '' : ct.split(';')[0].trim().toLowerCase()
}

/**
 * The @context URL of a Link header with rel json-ld#context (6.3.5), or undefined. A Link header
 * with that rel but no URL, or a context Link of another type, is a client error.
 */
export function linkContext (header: string | string[] | undefined): string | undefined {
  if (header == null) return undefined
  const text = Array.isArray(header) ? header.join(',') : header
  // Links are `<url>; param=value; …` separated by commas (URLs in <> may contain commas).
  const re = /<([^>]*)>\s*((?:;\s*[^;,]+)*)/g
  let m: RegExpExecArray | null
  while ((m = re.exec(text)) != null) {
    const params = m[2]
    const rel = /;\s*rel\s*=\s*"?([^";]+)"?/i.exec(params)?.[1]
    if (rel !== CONTEXT_REL) continue
    const url = m[1].trim()
    if (url === '') throw new BadRequestDataError('Link header: empty @context URL')
    try { new URL(url) } catch { throw new BadRequestDataError(`Link header: @context ${url} is not an absolute URL`) }
    return url
  }
  return undefined
}

/**
 * Where the request's @context comes from: the Link header for JSON bodies and for requests
 * without a body, the body's `@context` for JSON-LD bodies. Both together, or a JSON-LD body
 * without @context, or a JSON body with one, are errors (6.3.5).
 */
export function requestContext (req: FastifyRequest, body?: unknown): unknown {
  const media = requestMediaType(req)
  const link = linkContext(req.headers.link)
  const bodyContext = body != null && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>)['@context'] : undefined
  if (media === JSON_LD) {
    if (link != null) throw new BadRequestDataError('a request with Content-Type application/ld+json must not carry a JSON-LD Link header; put the @context in the body')
    if (Array.isArray(body)) {
      const contexts = body.map(e => (e != null && typeof e === 'object') ? (e as Record<string, unknown>)['@context'] : undefined)
      if (contexts.some(c => c == null)) throw new BadRequestDataError('with Content-Type application/ld+json every entity needs an @context member')
      return contexts[0]
    }
    if (bodyContext == null) throw new BadRequestDataError('with Content-Type application/ld+json the body needs an @context member')
    return bodyContext
  }
  if (bodyContext != null) throw new BadRequestDataError('an @context member in the body needs Content-Type application/ld+json (with application/json, send the @context in a Link header)')
  if (Array.isArray(body) && body.some(e => e != null && typeof e === 'object' && '@context' in e)) {
    throw new BadRequestDataError('an @context member in the body needs Content-Type application/ld+json (with application/json, send the @context in a Link header)')
  }
  return link
}

/** Content types accepted for bodies of each method. */
export function assertBodyType (req: FastifyRequest): void {
  const media = requestMediaType(req)
  const ok = media === JSON_TYPE || media === JSON_LD || (req.method === 'PATCH' && media === MERGE_PATCH)
  if (!ok) {
    throw new UnsupportedMediaTypeError(`Content-Type ${media === '' ? '(none)' : media} is not supported here; use application/json or application/ld+json${req.method === 'PATCH' ? ' (or application/merge-patch+json)' : ''}`)
  }
}

interface Range { type: string, sub: string, q: number, order: number }

function parseAccept (accept: string): Range[] {
  return accept.split(',').map((part, order) => {
    const [mt, ...params] = part.trim().split(';')
    const [type, sub] = mt.trim().toLowerCase().split('/')
    let q = 1
    for (const p of params) {
      const [k, v] = p.split('=').map(s => s.trim())
      if (k === 'q') q = Number(v)
    }
    return { type: type ?? '', sub: sub ?? '', q: Number.isFinite(q) ? q : 0, order }
  }).filter(r => r.type !== '' && r.q > 0)
}

/**
 * The response media type for an Accept header (6.3.4): application/json when absent or any;
 * application/geo+json only where `geo` is allowed (retrieve and query entities).
 */
export function negotiate (accept: string | undefined, opts: { geo: boolean }): ResponseType {
  if (accept == null || accept.trim() === '') return JSON_TYPE
  const offered: ResponseType[] = opts.geo ? [JSON_TYPE, JSON_LD, GEO_JSON] : [JSON_TYPE, JSON_LD]
  let best: { type: ResponseType, q: number, specificity: number, order: number } | undefined
  for (const r of parseAccept(accept)) {
    for (const t of offered) {
      const [type, sub] = t.split('/')
      const specificity = r.type === type && r.sub === sub ? 2 : r.type === type && r.sub === '*' ? 1 : r.type === '*' ? 0 : -1
      if (specificity < 0) continue
      // application/* and */* mean application/json (our default).
      if (specificity < 2 && t !== JSON_TYPE) continue
      if (best == null || r.q > best.q || (r.q === best.q && (specificity > best.specificity || (specificity === best.specificity && r.order < best.order)))) {
        best = { type: t, q: r.q, specificity, order: r.order }
      }
    }
  }
  if (best == null) throw new NotAcceptableError(`none of the media types in Accept (${accept}) can be produced here; use application/json or application/ld+json${opts.geo ? ' or application/geo+json' : ''}`)
  return best.type
}

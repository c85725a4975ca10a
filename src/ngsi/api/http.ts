/**
 * Shared plumbing of the NGSI-LD routes: resolving the request's @context, rendering entities in
 * the negotiated representation (with a per-entity cache of serialized bodies), and answering
 * with the right headers.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import { CORE_CONTEXT_URL, type CompiledContext, type ContextResolver } from '../context/index.ts'
import { compactEntity, toFeatureCollection, toGeoJsonFeature } from '../entity/index.ts'
import { BadRequestDataError } from '../errors.ts'
import type { Entity, RenderOptions } from '../types.ts'
import { CONTEXT_REL, GEO_JSON, JSON_LD, negotiate, requestContext, type ResponseType } from './negotiation.ts'

export interface NgsiHttp {
  contexts: ContextResolver
}

/** The CompiledContext of a request (Link header or body @context), resolved with the request's lifetime. */
export async function contextOf (contexts: ContextResolver, req: FastifyRequest, body?: unknown): Promise<CompiledContext> {
  // No per-request signal: a fetch of a remote @context has its own time limit, and an
  // AbortSignal.timeout per request costs a timer for the common, cached case.
  return await contexts.resolve(requestContext(req, body))
}

/** The URL to put in a response Link header: the request's context URL, else the core context. */
export function linkUrl (ctx: CompiledContext): string {
  const v = ctx.value
  if (typeof v === 'string') return v
  if (Array.isArray(v) && v.length === 1 && typeof v[0] === 'string') return v[0]
  return CORE_CONTEXT_URL
}

export function linkHeader (ctx: CompiledContext): string {
  return `<${linkUrl(ctx)}>; rel="${CONTEXT_REL}"; type="application/ld+json"`
}

/** Sets Content-Type (and Link for application/json) for a JSON body rendered for `ctx`. */
export function setBodyHeaders (reply: FastifyReply, type: ResponseType, ctx: CompiledContext): void {
  if (type === JSON_LD) void reply.type('application/ld+json')
  else if (type === GEO_JSON) void reply.type('application/geo+json')
  else void reply.type('application/json').header('Link', linkHeader(ctx))
}

/**
 * Serialized single-entity bodies per entity version and representation. Stored entities are
 * immutable (a write makes a new object), so a WeakMap keyed by the entity needs no
 * invalidation: the next version simply misses.
 */
const rendered = new WeakMap<Entity, Map<string, string>>()
const MAX_RENDERINGS_PER_ENTITY = 8

function renderKey (ctx: CompiledContext, type: ResponseType, o: RenderOptions, geometryProperty: string | undefined): string | null {
  if (o.attrs != null || o.pick != null || o.omit != null || o.lang != null) return null
  return `${type}|${o.format}|${o.sysAttrs ? 1 : 0}|${geometryProperty ?? ''}|${ctx.key}`
}

export function renderOne (entity: Entity, ctx: CompiledContext, type: ResponseType, opts: RenderOptions, geometryProperty?: string): string {
  const key = renderKey(ctx, type, opts, geometryProperty)
  if (key != null) {
    const hit = rendered.get(entity)?.get(key)
    if (hit != null) return hit
  }
  let body: Record<string, unknown>
  if (type === GEO_JSON) {
    body = toGeoJsonFeature(entity, ctx, opts, geometryProperty) as unknown as Record<string, unknown>
  } else {
    body = compactEntity(entity, ctx, opts)
    if (type === JSON_LD) body['@context'] = ctx.value
  }
  const text = JSON.stringify(body)
  if (key != null) {
    let m = rendered.get(entity)
    if (m == null) { m = new Map(); rendered.set(entity, m) }
    if (m.size < MAX_RENDERINGS_PER_ENTITY) m.set(key, text)
  }
  return text
}

export function renderMany (entities: Entity[], ctx: CompiledContext, type: ResponseType, opts: RenderOptions, geometryProperty?: string): string {
  if (type === GEO_JSON) {
    const fc = toFeatureCollection(entities, ctx, opts, geometryProperty) as unknown as Record<string, unknown>
    return JSON.stringify(fc)
  }
  return `[${entities.map(e => renderOne(e, ctx, type, opts, geometryProperty)).join(',')}]`
}

export { negotiate }

/** The entity id of a URL, checked to be a URI. */
export function entityIdParam (raw: string): string {
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:\S+$/.test(raw)) throw new BadRequestDataError(`entity id ${raw} is not a URI`)
  return raw
}

/** `Location` of an entity (its id URL-encoded into the path). */
export function entityLocation (prefix: string, id: string): string {
  return `${prefix}/entities/${encodeURIComponent(id)}`
}

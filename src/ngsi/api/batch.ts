/**
 * Batch entity operations (5.6.7–5.6.10, 5.6.20) and Query via POST (5.7.2).
 * Each entity of a batch is validated and written on its own (atomic per entity); all valid
 * entities go to the store in one LevelDB batch. Partial success is 207 with a
 * BatchOperationResult.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { PROBLEMS, problemFor } from '../../api/problem.ts'
import { CmeshError } from '../../errors.ts'
import { mayWrite } from '../../auth/roles-for-types.ts'
import { ForbiddenError } from '../../auth/errors.ts'
import type { NgsiService } from '../service.ts'
import type { CompiledContext, ContextResolver } from '../context/index.ts'
import { expandEntity, expandEntityPatch } from '../entity/index.ts'
import { BadRequestDataError, NgsiError } from '../errors.ts'
import type { BatchError } from '../service.ts'
import type { Entity, RenderOptions } from '../types.ts'
import type { NgsiRoutesOptions } from './interface.ts'
import { contextOf, linkHeader, negotiate, renderMany, setBodyHeaders } from './http.ts'
import { assertBodyType, JSON_LD, requestMediaType } from './negotiation.ts'
import { options, paging, representation } from './params.ts'
import { pageLinks, toPatches } from './entities.ts'
import * as S from './schemas.ts'
import { ABSOLUTE_URI } from '../entity/constants.ts'
import { FORWARDED_BY, forwardedRequest, type Federation } from './federation.ts'

/** Largest number of entities in one batch request: keeps one LevelDB batch and one response bounded. */
export const MAX_BATCH = 10_000

/** An error another domain reported for an entity of a forwarded batch, kept as it came. */
class RemoteProblem extends Error {
  readonly problem: Record<string, unknown>
  constructor (problem: Record<string, unknown>) {
    super(String(problem.detail ?? 'error at the owning domain'))
    this.problem = problem
  }
}

function problemOf (err: unknown): Record<string, unknown> {
  if (err instanceof RemoteProblem) return err.problem
  if (err instanceof CmeshError && err.code in PROBLEMS) return problemFor(err.code, err.message)
  return problemFor('NGSI_INTERNAL_ERROR', 'internal error; see the node log')
}

function batchBody (body: unknown): unknown[] {
  if (!Array.isArray(body)) throw new BadRequestDataError('a batch operation needs a JSON array')
  if (body.length === 0) throw new BadRequestDataError('a batch operation needs at least one element')
  if (body.length > MAX_BATCH) throw new BadRequestDataError(`a batch may hold at most ${MAX_BATCH} elements; this one has ${body.length}`)
  return body
}

function idOf (item: unknown): string {
  return item != null && typeof item === 'object' && typeof (item as { id?: unknown }).id === 'string' ? (item as { id: string }).id : ''
}

/**
 * Expands every element; an element that fails goes to `errors` with its id. With
 * application/ld+json each element carries its own @context.
 */
async function expandAll<T> (contexts: ContextResolver, req: FastifyRequest, items: unknown[], expand: (item: unknown, ctx: CompiledContext) => T): Promise<{ ok: Array<{ raw: unknown, value: T }>, errors: BatchError[], ctx: CompiledContext }> {
  const ok: Array<{ raw: unknown, value: T }> = []
  const errors: BatchError[] = []
  const perItem = requestMediaType(req) === JSON_LD
  const shared = await contextOf(contexts, req, perItem ? undefined : items)
  for (const item of items) {
    try {
      let ctx = shared
      if (perItem) {
        const c = item != null && typeof item === 'object' ? (item as Record<string, unknown>)['@context'] : undefined
        if (c == null) throw new BadRequestDataError('with Content-Type application/ld+json every entity needs an @context member')
        ctx = await contexts.resolve(c, { signal: AbortSignal.timeout(10_000) })
      }
      ok.push({ raw: item, value: expand(item, ctx) })
    } catch (err) {
      if (!(err instanceof NgsiError)) throw err
      errors.push({ entityId: idOf(item), error: err })
    }
  }
  return { ok, errors, ctx: shared }
}

function send (reply: FastifyReply, success: string[], errors: BatchError[], ok: { status: number, body?: unknown }): FastifyReply {
  if (errors.length > 0) {
    return reply.status(207).type('application/json').send({
      success,
      errors: errors.map(e => ({ entityId: e.entityId, error: problemOf(e.error) }))
    })
  }
  if (ok.body === undefined) return reply.status(ok.status).send()
  return reply.status(ok.status).type('application/json').send(ok.body)
}

interface Item<T> {
  raw: unknown
  value: T
  id: string
  incoming?: Pick<Entity, 'id' | 'type' | 'attrs'>
  /** the entity as it is (null: absent), read once for the whole batch */
  current?: Entity | null
}

/**
 * Keeps the items the caller's roles may write (by the entity's current and new types); the others
 * become 403 errors of the batch result. Reads the batch's entities as they are (one LevelDB call
 * for those not held in memory, not one per entity) and notes each on its item for the write policy.
 */
async function authorized<T> (req: FastifyRequest, service: NgsiService, items: Array<Item<T>>, errors: BatchError[]): Promise<Array<Item<T>>> {
  const held = await service.store.getMany(items.map(i => i.id))
  for (const item of items) item.current = held.get(item.id) ?? null
  const user = req.user
  if (user == null) return items
  const ok: Array<Item<T>> = []
  for (const item of items) {
    const current = item.current
    const types = [...(current?.type ?? []), ...(item.incoming?.type ?? [])]
    if (mayWrite(user.roles, types)) ok.push(item)
    else errors.push({ entityId: item.id, error: new ForbiddenError(`${user.subject}@${user.issuer} may not write ${item.id} (roles: ${user.roles.join(', ') || 'none'})`) })
  }
  return ok
}

/**
 * Splits a batch by owning domain: entities this domain may write stay here; the others go, as
 * sub-batches of their original JSON, to their owners, whose results are merged into ours.
 */
async function forwardForeign<T> (federation: Federation | undefined, req: FastifyRequest, items: Array<Item<T>>): Promise<{ local: Array<Item<T>>, success: string[], created: string[], errors: BatchError[] }> {
  const out = { local: [] as Array<Item<T>>, success: [] as string[], created: [] as string[], errors: [] as BatchError[] }
  if (federation == null || req.headers[FORWARDED_BY] != null) { out.local = items; return out }
  const groups = new Map<string, Array<Item<T>>>()
  for (const item of items) {
    let owner: string | null
    try {
      owner = await federation.policy.ownerForWrite(item.id, item.incoming, item.current)
    } catch (err) {
      out.errors.push({ entityId: item.id, error: err as Error })
      continue
    }
    if (owner == null) { out.local.push(item); continue }
    const g = groups.get(owner)
    if (g == null) groups.set(owner, [item]); else g.push(item)
  }
  for (const [owner, group] of groups) {
    const ids = group.map(g => g.id)
    try {
      const res = await federation.forward(owner, forwardedRequest(req, group.map(g => g.raw)))
      const body = res.body === '' ? undefined : JSON.parse(res.body) as unknown
      if (res.status === 201 || res.status === 204) {
        out.success.push(...ids)
        if (res.status === 201 && Array.isArray(body)) out.created.push(...body.filter((x): x is string => typeof x === 'string'))
      } else if (res.status === 207 && body != null && typeof body === 'object') {
        const r = body as { success?: string[], errors?: Array<{ entityId: string, error: Record<string, unknown> }> }
        out.success.push(...(r.success ?? []))
        for (const e of r.errors ?? []) out.errors.push({ entityId: e.entityId, error: new RemoteProblem(e.error) })
      } else {
        const problem = body != null && typeof body === 'object' ? body as Record<string, unknown> : problemFor('NGSI_OWNER_UNAVAILABLE', `domain ${owner} answered ${res.status}`)
        for (const id of ids) out.errors.push({ entityId: id, error: new RemoteProblem(problem) })
      }
    } catch (err) {
      for (const id of ids) out.errors.push({ entityId: id, error: err as Error })
    }
  }
  return out
}

export const batchRoutes: FastifyPluginAsync<NgsiRoutesOptions> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { service, contexts, limits, federation } = opts
  const tags = ['ngsi-ld batch']

  app.post('/entityOperations/create', {
    config: { auth: { anyOf: ['deployer', 'operator'] } },
    schema: { tags, summary: 'Batch Create (5.6.7)', body: S.EntityArray, querystring: S.EmptyQuery }
  }, async (req, reply) => {
    assertBodyType(req)
    const items = batchBody(req.body)
    const { ok, errors } = await expandAll(contexts, req, items, (item, ctx) => expandEntity(item, ctx, { requireType: true }))
    const f = await forwardForeign(federation, req, await authorized(req, service, ok.map(o => ({ ...o, id: o.value.id, incoming: o.value })), errors))
    const r = f.local.length > 0 ? await service.batchCreate(f.local.map(i => i.value)) : { success: [], errors: [] }
    const success = [...r.success, ...f.success]
    return send(reply, success, [...errors, ...f.errors, ...r.errors], { status: 201, body: success })
  })

  app.post('/entityOperations/upsert', {
    config: { auth: { anyOf: ['deployer', 'operator'] } },
    schema: { tags, summary: 'Batch Upsert (5.6.8)', body: S.EntityArray, querystring: S.UpsertQuery }
  }, async (req, reply) => {
    assertBodyType(req)
    const o = options(req.query.options, ['replace', 'update'])
    if (o.size > 1) throw new BadRequestDataError('options: replace and update exclude each other')
    const items = batchBody(req.body)
    const { ok, errors } = await expandAll(contexts, req, items, (item, ctx) => expandEntity(item, ctx, { requireType: true }))
    const f = await forwardForeign(federation, req, await authorized(req, service, ok.map(o => ({ ...o, id: o.value.id, incoming: o.value })), errors))
    const r = f.local.length > 0 ? await service.batchUpsert(f.local.map(i => i.value), o.has('update') ? 'update' : 'replace') : { success: [], errors: [], created: [] }
    const created = [...r.created, ...f.created]
    return send(reply, [...r.success, ...f.success], [...errors, ...f.errors, ...r.errors], created.length > 0 ? { status: 201, body: created } : { status: 204 })
  })

  app.post('/entityOperations/update', {
    config: { auth: { anyOf: ['deployer', 'operator'] } },
    schema: { tags, summary: 'Batch Update (5.6.9)', body: S.EntityArray, querystring: S.OptionsQuery }
  }, async (req, reply) => {
    assertBodyType(req)
    const noOverwrite = options(req.query.options, ['noOverwrite']).has('noOverwrite')
    const items = batchBody(req.body)
    const { ok, errors } = await expandAll(contexts, req, items, (item, ctx) => expandEntity(item, ctx, { requireType: false }))
    const f = await forwardForeign(federation, req, await authorized(req, service, ok.map(o => ({ ...o, id: o.value.id, incoming: o.value })), errors))
    const r = f.local.length > 0 ? await service.batchUpdate(f.local.map(i => i.value), noOverwrite) : { success: [], errors: [] }
    return send(reply, [...r.success, ...f.success], [...errors, ...f.errors, ...r.errors], { status: 204 })
  })

  app.post('/entityOperations/merge', {
    config: { auth: { anyOf: ['deployer', 'operator'] } },
    schema: { tags, summary: 'Batch Merge (5.6.20)', body: S.EntityArray, querystring: S.EmptyQuery }
  }, async (req, reply) => {
    assertBodyType(req)
    const items = batchBody(req.body)
    const { ok, errors } = await expandAll(contexts, req, items, (item, ctx) => expandEntityPatch(item, ctx, { requireType: false }))
    const f = await forwardForeign(federation, req, await authorized(req, service, ok.map(o => ({ ...o, id: o.value.entity.id, incoming: o.value.entity })), errors))
    const r = f.local.length > 0
      ? await service.batchMergePatches(f.local.map(({ value: p }) => ({ id: p.entity.id, types: p.entity.type, scope: p.entity.scope, patches: toPatches(p.entity.attrs, p.deletions) })))
      : { success: [], errors: [] }
    return send(reply, [...r.success, ...f.success], [...errors, ...f.errors, ...r.errors], { status: 204 })
  })

  app.post('/entityOperations/delete', {
    config: { auth: { anyOf: ['deployer', 'operator'] } },
    schema: { tags, summary: 'Batch Delete (5.6.10): a JSON array of entity ids', body: S.EntityArray, querystring: S.EmptyQuery }
  }, async (req, reply) => {
    assertBodyType(req)
    const items = batchBody(req.body)
    const ids: string[] = []
    const errors: BatchError[] = []
    for (const item of items) {
      if (typeof item === 'string' && ABSOLUTE_URI.test(item)) ids.push(item)
      else errors.push({ entityId: typeof item === 'string' ? item : '', error: new BadRequestDataError(`${JSON.stringify(item)} is not an entity id (a URI)`) })
    }
    const f = await forwardForeign(federation, req, await authorized(req, service, ids.map(id => ({ raw: id, value: id, id })), errors))
    const r = f.local.length > 0 ? await service.batchDelete(f.local.map(i => i.id)) : { success: [], errors: [] }
    return send(reply, [...r.success, ...f.success], [...errors, ...f.errors, ...r.errors], { status: 204 })
  })

  app.post('/entityOperations/query', {
    config: { auth: { role: 'viewer' } },
    schema: { tags, summary: 'Query Entities via POST (5.7.2)', body: S.AnyBody, querystring: S.BatchQueryQuery }
  }, async (req, reply) => {
    assertBodyType(req)
    const body = req.body
    if (body == null || typeof body !== 'object' || Array.isArray(body)) throw new BadRequestDataError('the body must be a Query object')
    const b = body as Record<string, unknown>
    if (b.type !== 'Query') throw new BadRequestDataError('the body must have type "Query"')
    const allowed = new Set(['type', '@context', 'entities', 'attrs', 'pick', 'omit', 'q', 'geoQ', 'lang', 'local'])
    for (const k of Object.keys(b)) {
      if (!allowed.has(k)) throw new BadRequestDataError(`Query member ${k} is not supported`)
    }
    const type = negotiate(req.headers.accept, { geo: true })
    const ctx = await contextOf(contexts, req, body)
    const q = req.query
    const rep = representation(options(q.options, ['keyValues', 'simplified', 'concise', 'normalized', 'sysAttrs']), q.format)
    const page = paging(q, limits)
    const selectors = parseSelectors(b.entities)
    const attrs = stringList(b.attrs, 'attrs')
    const geoQ = b.geoQ as Record<string, unknown> | undefined
    if (geoQ != null && (typeof geoQ !== 'object' || Array.isArray(geoQ))) throw new BadRequestDataError('geoQ must be an object')
    const result = await service.queryAny(selectors.length > 0 ? selectors : [{}], {
      attrs,
      q: typeof b.q === 'string' ? b.q : undefined,
      geo: geoQ != null ? { georel: geoQ.georel as string, geometry: geoQ.geometry as string, coordinates: geoQ.coordinates, geoproperty: geoQ.geoproperty as string | undefined } : undefined,
      geoSource: 'body'
    }, ctx.expandTerm, page)
    const pickList = stringList(b.pick, 'pick')
    const omitList = stringList(b.omit, 'omit')
    const render: RenderOptions = {
      ...rep,
      attrs: result.attrs,
      pick: pickList != null ? new Set(pickList.map(n => ['id', 'type', 'scope'].includes(n) ? n : ctx.expandTerm(n))) : undefined,
      omit: omitList != null ? new Set(omitList.map(n => ['id', 'type', 'scope'].includes(n) ? n : ctx.expandTerm(n))) : undefined,
      lang: typeof b.lang === 'string' ? b.lang : undefined
    }
    setBodyHeaders(reply, type, ctx)
    if (result.count != null) void reply.header('NGSILD-Results-Count', String(result.count))
    const links = pageLinks(opts.basePath + '/entityOperations/query', q as Record<string, unknown>, page, result.entities.length, result.count)
    if (links.length > 0) void reply.header('Link', [...(type === 'application/json' ? [linkHeader(ctx)] : []), ...links].join(', '))
    return reply.send(renderMany(result.entities as Entity[], ctx, type, render))
  })
}

function stringList (v: unknown, name: string): string[] | undefined {
  if (v == null) return undefined
  if (typeof v === 'string') return v.split(',').map(s => s.trim())
  if (Array.isArray(v) && v.every(x => typeof x === 'string')) return v
  throw new BadRequestDataError(`${name} must be a list of names`)
}

function parseSelectors (v: unknown): Array<{ ids?: string[], idPattern?: string, type?: string }> {
  if (v == null) return []
  if (!Array.isArray(v)) throw new BadRequestDataError('entities must be an array of entity selectors')
  return v.map((s, i) => {
    if (s == null || typeof s !== 'object' || Array.isArray(s)) throw new BadRequestDataError(`entities[${i}] must be an object`)
    const o = s as Record<string, unknown>
    for (const k of Object.keys(o)) if (!['id', 'idPattern', 'type'].includes(k)) throw new BadRequestDataError(`entities[${i}].${k} is not an entity selector member`)
    if (o.id != null && typeof o.id !== 'string') throw new BadRequestDataError(`entities[${i}].id must be a URI`)
    if (o.idPattern != null && typeof o.idPattern !== 'string') throw new BadRequestDataError(`entities[${i}].idPattern must be a string`)
    if (o.type != null && typeof o.type !== 'string') throw new BadRequestDataError(`entities[${i}].type must be a string`)
    return { ids: o.id != null ? [o.id as string] : undefined, idPattern: o.idPattern as string | undefined, type: o.type as string | undefined }
  })
}

/**
 * Entities and attributes (clauses 5.6.1–5.6.6, 5.6.17–5.6.19, 5.7.1, 5.7.2).
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import {
  expandAttribute, expandAttributeFragment, expandAttributes, expandEntity, expandEntityPatch,
  type AttributesPatch, type Deletion
} from '../entity/index.ts'
import { BadRequestDataError, ResourceNotFoundError } from '../errors.ts'
import type { AttrPatch, UpdateOutcome } from '../operations.ts'
import type { Entity, RenderOptions } from '../types.ts'
import type { NgsiRoutesOptions } from './interface.ts'
import { contextOf, entityIdParam, entityLocation, linkHeader, negotiate, renderMany, renderOne, setBodyHeaders } from './http.ts'
import { coordinates, list, options, paging, representation } from './params.ts'
import * as S from './schemas.ts'
import { assertBodyType, requestMediaType, MERGE_PATCH } from './negotiation.ts'
import { forwardIfForeign } from './federation.ts'
import { requireOneOf } from '../../auth/plugin.ts'
import { writersOf } from '../../auth/roles-for-types.ts'
import type { NgsiService } from '../service.ts'

/** 403 unless the caller's roles may write an entity of these types (current ones included). */
export async function authorizeWrite (req: FastifyRequest, service: NgsiService, id: string, incomingTypes: readonly string[] = []): Promise<void> {
  const current = await service.store.get(id)
  requireOneOf(req, writersOf([...(current?.type ?? []), ...incomingTypes]), `writing ${id}`)
}

/** Turns expanded attributes and deletions into store patches. */
export function toPatches (attrs: Record<string, Entity['attrs'][string]>, deletions: Deletion[]): AttrPatch[] {
  const patches: AttrPatch[] = []
  for (const [name, instances] of Object.entries(attrs)) {
    for (const a of instances) patches.push({ name, datasetId: a.datasetId, attr: a })
  }
  for (const d of deletions) {
    const same = patches.find(p => p.name === d.attr && p.datasetId === d.datasetId)
    if (d.path == null || d.path.length === 0) {
      if (same != null) same.attr = null
      else patches.push({ name: d.attr, datasetId: d.datasetId, attr: null })
    } else if (same != null) {
      (same.removals ??= []).push(d.path)
    } else {
      patches.push({ name: d.attr, datasetId: d.datasetId, attr: null, removals: [d.path] })
    }
  }
  return patches
}

function sendOutcome (reply: FastifyReply, outcome: UpdateOutcome, ctx: { compactIri: (i: string) => string }): FastifyReply {
  if (outcome.notUpdated.length === 0) return reply.status(204).send()
  return reply.status(207).type('application/json').send({
    updated: [...new Set(outcome.updated)].map(a => ctx.compactIri(a)),
    notUpdated: outcome.notUpdated.map(n => ({ attributeName: ctx.compactIri(n.attributeName), reason: n.reason }))
  })
}

export const entityRoutes: FastifyPluginAsync<NgsiRoutesOptions> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { service, contexts, limits, federation } = opts
  const tags = ['ngsi-ld entities']

  app.post('/entities', {
    config: { auth: { anyOf: ['deployer', 'operator'] } },
    schema: { tags, summary: 'Create Entity (5.6.1)', body: S.AnyBody, querystring: S.EmptyQuery }
  }, async (req, reply) => {
    assertBodyType(req)
    const ctx = await contextOf(contexts, req, req.body)
    const entity = expandEntity(req.body, ctx, { requireType: true })
    await authorizeWrite(req, service, entity.id, entity.type)
    if (await forwardIfForeign(federation, req, reply, entity.id, entity)) return reply
    await service.createEntity(entity)
    return reply.status(201).header('Location', entityLocation(opts.basePath, entity.id)).send()
  })

  app.get('/entities', {
    config: { auth: { role: 'viewer' } },
    schema: { tags, summary: 'Query Entities (5.7.2)', querystring: S.QueryEntitiesQuery }
  }, async (req, reply) => {
    const q = req.query
    const type = negotiate(req.headers.accept, { geo: true })
    const ctx = await contextOf(contexts, req)
    const rep = representation(options(q.options, ['keyValues', 'simplified', 'concise', 'normalized', 'sysAttrs']), q.format)
    const page = paging(q, limits)
    const attrs = list('attrs', q.attrs)
    const result = await service.query({
      ids: list('id', q.id),
      idPattern: q.idPattern,
      type: q.type,
      attrs,
      q: q.q,
      geo: q.georel != null || q.geometry != null || q.coordinates != null
        ? { georel: q.georel, geometry: q.geometry, coordinates: coordinates(q.coordinates), geoproperty: q.geoproperty }
        : undefined
    }, ctx.expandTerm, page)
    const render: RenderOptions = { ...rep, attrs: result.attrs, ...projection(q, ctx.expandTerm), lang: q.lang }
    setBodyHeaders(reply, type, ctx)
    if (result.count != null) void reply.header('NGSILD-Results-Count', String(result.count))
    const links = pageLinks(opts.basePath + '/entities', req.query as Record<string, unknown>, page, result.entities.length, result.count)
    if (links.length > 0) void reply.header('Link', [...(type === 'application/json' ? [linkHeader(ctx)] : []), ...links].join(', '))
    return reply.send(renderMany(result.entities, ctx, type, render, q.geometryProperty))
  })

  app.get('/entities/:entityId', {
    config: { auth: { role: 'viewer' } },
    schema: { tags, summary: 'Retrieve Entity (5.7.1)', params: S.EntityIdParams, querystring: S.RetrieveQuery }
  }, async (req, reply) => {
    const id = entityIdParam(req.params.entityId)
    const q = req.query
    const type = negotiate(req.headers.accept, { geo: true })
    const ctx = await contextOf(contexts, req)
    const rep = q.options == null && q.format == null ? DEFAULT_REPRESENTATION : representation(options(q.options, ['keyValues', 'simplified', 'concise', 'normalized', 'sysAttrs']), q.format)
    const entity = await service.getEntity(id)
    const attrs = list('attrs', q.attrs)?.map(ctx.expandTerm)
    const render: RenderOptions = q.attrs == null && q.pick == null && q.omit == null && q.lang == null
      ? rep
      : { ...rep, attrs: attrs != null ? new Set(attrs) : undefined, ...projection(q, ctx.expandTerm), lang: q.lang }
    if (attrs != null && !attrs.some(a => a in entity.attrs)) {
      throw new ResourceNotFoundError(`entity ${id} has none of the attributes ${q.attrs ?? ''}`, { id })
    }
    const body = renderOne(entity, ctx, type, render, q.geometryProperty)
    if (body === '{}') throw new ResourceNotFoundError(`pick/omit leave nothing of entity ${id}`, { id })
    setBodyHeaders(reply, type, ctx)
    return reply.send(body)
  })

  app.delete('/entities/:entityId', {
    config: { auth: { anyOf: ['deployer', 'operator'] } },
    schema: { tags, summary: 'Delete Entity (5.6.6)', params: S.EntityIdParams, querystring: S.EmptyQuery }
  }, async (req, reply) => {
    const id = entityIdParam(req.params.entityId)
    await authorizeWrite(req, service, id)
    if (await forwardIfForeign(federation, req, reply, id)) return reply
    await service.deleteEntity(id)
    return reply.status(204).send()
  })

  app.put('/entities/:entityId', {
    config: { auth: { anyOf: ['deployer', 'operator'] } },
    schema: { tags, summary: 'Replace Entity (5.6.18)', params: S.EntityIdParams, body: S.AnyBody, querystring: S.EmptyQuery }
  }, async (req, reply) => {
    assertBodyType(req)
    const id = entityIdParam(req.params.entityId)
    const ctx = await contextOf(contexts, req, req.body)
    const entity = expandEntity(req.body, ctx, { requireType: true, entityId: id })
    await authorizeWrite(req, service, id, entity.type)
    if (await forwardIfForeign(federation, req, reply, id, entity)) return reply
    await service.replaceEntity({ ...entity, id })
    return reply.status(204).send()
  })

  app.patch('/entities/:entityId', {
    config: { auth: { anyOf: ['deployer', 'operator'] } },
    schema: { tags, summary: 'Merge Entity (5.6.17)', params: S.EntityIdParams, body: S.AnyBody, querystring: S.EmptyQuery }
  }, async (req, reply) => {
    assertBodyType(req)
    const id = entityIdParam(req.params.entityId)
    const ctx = await contextOf(contexts, req, req.body)
    const { entity, deletions } = expandEntityPatch(req.body, ctx, { requireType: false, entityId: id })
    await authorizeWrite(req, service, id, entity.type)
    if (await forwardIfForeign(federation, req, reply, id, { ...entity, id })) return reply
    const outcome = await service.mergeEntity(id, toPatches(entity.attrs, deletions), { types: entity.type.length > 0 ? entity.type : undefined, scope: entity.scope })
    return sendOutcome(reply, outcome, ctx)
  })

  app.post('/entities/:entityId/attrs', {
    config: { auth: { anyOf: ['deployer', 'operator'] } },
    schema: { tags, summary: 'Append Attributes (5.6.3)', params: S.EntityIdParams, body: S.AnyBody, querystring: S.OptionsQuery }
  }, async (req, reply) => {
    assertBodyType(req)
    const id = entityIdParam(req.params.entityId)
    const noOverwrite = options(req.query.options, ['noOverwrite']).has('noOverwrite')
    const ctx = await contextOf(contexts, req, req.body)
    const patch: AttributesPatch = expandAttributes(req.body, ctx, { entityId: id })
    await authorizeWrite(req, service, id, patch.type)
    if (await forwardIfForeign(federation, req, reply, id, { id, type: patch.type ?? [], attrs: patch.attrs })) return reply
    const outcome = await service.appendAttributes(id, toPatches(patch.attrs, []), { noOverwrite, types: patch.type, scope: patch.scope })
    return sendOutcome(reply, outcome, ctx)
  })

  app.patch('/entities/:entityId/attrs', {
    config: { auth: { anyOf: ['deployer', 'operator'] } },
    schema: { tags, summary: 'Update Attributes (5.6.2)', params: S.EntityIdParams, body: S.AnyBody, querystring: S.EmptyQuery }
  }, async (req, reply) => {
    assertBodyType(req)
    const id = entityIdParam(req.params.entityId)
    const ctx = await contextOf(contexts, req, req.body)
    const patch = expandAttributes(req.body, ctx, { entityId: id })
    await authorizeWrite(req, service, id, patch.type)
    if (await forwardIfForeign(federation, req, reply, id, { id, type: patch.type ?? [], attrs: patch.attrs })) return reply
    const outcome = await service.updateAttributes(id, toPatches(patch.attrs, []), { types: patch.type })
    return sendOutcome(reply, outcome, ctx)
  })

  app.patch('/entities/:entityId/attrs/:attrId', {
    config: { auth: { anyOf: ['deployer', 'operator'] } },
    schema: { tags, summary: 'Partial Attribute Update (5.6.4)', params: S.AttrParams, body: S.AnyBody, querystring: S.PatchAttrQuery }
  }, async (req, reply) => {
    assertBodyType(req)
    const id = entityIdParam(req.params.entityId)
    const ctx = await contextOf(contexts, req, req.body)
    const fragment = expandAttributeFragment(req.params.attrId, req.body, ctx, { allowNull: requestMediaType(req) === MERGE_PATCH })
    if (fragment.instances.length === 0 && fragment.deletions.length === 0) throw new BadRequestDataError(`attribute ${req.params.attrId}: nothing to update`)
    await authorizeWrite(req, service, id)
    if (await forwardIfForeign(federation, req, reply, id, { id, type: [], attrs: { [fragment.name]: fragment.instances as Entity['attrs'][string] } })) return reply
    const targets = fragment.instances.length > 0 ? fragment.instances : [{}]
    for (const inst of targets) {
      const removals = fragment.deletions.filter(d => d.datasetId === inst.datasetId && d.path != null).map(d => d.path as string[])
      await service.partialUpdateAttribute(id, fragment.name, inst, inst.datasetId, removals)
    }
    return reply.status(204).send()
  })

  app.put('/entities/:entityId/attrs/:attrId', {
    config: { auth: { anyOf: ['deployer', 'operator'] } },
    schema: { tags, summary: 'Replace Attribute (5.6.19)', params: S.AttrParams, body: S.AnyBody, querystring: S.EmptyQuery }
  }, async (req, reply) => {
    assertBodyType(req)
    const id = entityIdParam(req.params.entityId)
    const ctx = await contextOf(contexts, req, req.body)
    const attr = expandAttribute(req.params.attrId, req.body, ctx)
    await authorizeWrite(req, service, id)
    if (await forwardIfForeign(federation, req, reply, id, { id, type: [], attrs: { [attr.name]: attr.instances } })) return reply
    await service.replaceAttribute(id, attr.name, attr.instances)
    return reply.status(204).send()
  })

  app.delete('/entities/:entityId/attrs/:attrId', {
    config: { auth: { anyOf: ['deployer', 'operator'] } },
    schema: { tags, summary: 'Delete Attribute (5.6.5)', params: S.AttrParams, querystring: S.DeleteAttrQuery }
  }, async (req, reply) => {
    const id = entityIdParam(req.params.entityId)
    const ctx = await contextOf(contexts, req)
    await authorizeWrite(req, service, id)
    if (await forwardIfForeign(federation, req, reply, id)) return reply
    await service.deleteAttribute(id, ctx.expandTerm(req.params.attrId), { datasetId: req.query.datasetId, deleteAll: req.query.deleteAll })
    return reply.status(204).send()
  })
}

const DEFAULT_REPRESENTATION: RenderOptions = { format: 'normalized', sysAttrs: false }

/** pick/omit as sets of expanded names (id/type kept as they are: the renderer knows them). */
export function projection (q: { pick?: string, omit?: string }, expand: (t: string) => string): Pick<RenderOptions, 'pick' | 'omit'> {
  const names = (v: string | undefined, name: string): Set<string> | undefined => {
    const items = list(name, v)
    if (items == null) return undefined
    return new Set(items.map(i => i === 'id' || i === 'type' || i === 'scope' ? i : expand(i)))
  }
  if (q.pick != null && q.omit != null) throw new BadRequestDataError('pick and omit cannot be used together')
  return { pick: names(q.pick, 'pick'), omit: names(q.omit, 'omit') }
}

/** prev/next links (6.3.10) for a page of results. */
export function pageLinks (path: string, query: Record<string, unknown>, page: { limit: number, offset: number }, returned: number, total?: number): string[] {
  const links: string[] = []
  const url = (offset: number): string => {
    const params = new URLSearchParams()
    for (const [k, v] of Object.entries(query)) if (v != null && k !== 'offset' && k !== 'limit') params.set(k, String(v))
    params.set('limit', String(page.limit))
    params.set('offset', String(offset))
    return `${path}?${params.toString()}`
  }
  if (page.offset > 0 && page.limit > 0) links.push(`<${url(Math.max(0, page.offset - page.limit))}>; rel="prev"; type="application/ld+json"`)
  const more = total != null ? page.offset + returned < total : returned === page.limit && page.limit > 0
  if (more) links.push(`<${url(page.offset + page.limit)}>; rel="next"; type="application/ld+json"`)
  return links
}

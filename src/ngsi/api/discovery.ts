/**
 * Discovery (5.7.5–5.7.10): entity types and attributes present in the (federation-wide) store,
 * answered from the store's in-memory catalog.
 */
import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { ResourceNotFoundError } from '../errors.ts'
import type { NgsiRoutesOptions } from './interface.ts'
import { contextOf, linkHeader, negotiate } from './http.ts'
import { JSON_LD } from './negotiation.ts'
import * as S from './schemas.ts'
import { Type } from 'typebox'

const TypeParams = Type.Object({ type: Type.String({ description: 'entity type (term or IRI)' }) })
const AttrParams = Type.Object({ attrId: Type.String({ description: 'attribute name (term or IRI)' }) })

export const discoveryRoutes: FastifyPluginAsync<NgsiRoutesOptions> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { service, contexts } = opts
  const catalog = service.store.index
  const tags = ['ngsi-ld discovery']

  const answer = async (req: FastifyRequest, body: unknown, reply: FastifyReply): Promise<FastifyReply> => {
    const type = negotiate(req.headers.accept, { geo: false })
    const ctx = await contextOf(contexts, req)
    if (type === JSON_LD) {
      const withCtx = Array.isArray(body) ? body.map(b => ({ ...b, '@context': ctx.value })) : { ...(body as object), '@context': ctx.value }
      return reply.type('application/ld+json').send(withCtx)
    }
    return reply.type('application/json').header('Link', linkHeader(ctx)).send(body)
  }

  app.get('/types', {
    config: { auth: { role: 'viewer' } },
    schema: { tags, summary: 'Retrieve Available Entity Types (5.7.5/5.7.6)', querystring: S.DetailsQuery }
  }, async (req, reply) => {
    const ctx = await contextOf(contexts, req)
    const types = [...catalog.types.keys()].sort()
    if (req.query.details === true) {
      return await answer(req, types.map(t => ({
        id: t,
        type: 'EntityType',
        typeName: ctx.compactIri(t),
        attributeNames: [...(catalog.types.get(t)?.attrs.keys() ?? [])].sort().map(a => ctx.compactIri(a))
      })), reply)
    }
    return await answer(req, { id: `urn:ngsi-ld:EntityTypeList:${randomUUID()}`, type: 'EntityTypeList', typeList: types.map(t => ctx.compactIri(t)) }, reply)
  })

  app.get('/types/:type', {
    config: { auth: { role: 'viewer' } },
    schema: { tags, summary: 'Retrieve Entity Type Information (5.7.7)', params: TypeParams, querystring: S.EmptyQuery }
  }, async (req, reply) => {
    const ctx = await contextOf(contexts, req)
    const iri = ctx.expandTerm(req.params.type)
    const stats = catalog.types.get(iri)
    if (stats == null) throw new ResourceNotFoundError(`no entity of type ${req.params.type}`)
    return await answer(req, {
      id: iri,
      type: 'EntityTypeInfo',
      typeName: ctx.compactIri(iri),
      entityCount: stats.entities,
      attributeDetails: [...stats.attrs.keys()].sort().map(a => ({
        id: a,
        type: 'Attribute',
        attributeName: ctx.compactIri(a),
        attributeTypes: [...(catalog.attrs.get(a)?.kinds.keys() ?? [])].sort()
      }))
    }, reply)
  })

  const attributeInfo = (a: string, compact: (i: string) => string) => {
    const s = catalog.attrs.get(a)
    return {
      id: a,
      type: 'Attribute',
      attributeName: compact(a),
      attributeCount: s?.entities ?? 0,
      attributeTypes: [...(s?.kinds.keys() ?? [])].sort(),
      typeNames: [...(s?.types.keys() ?? [])].sort().map(t => compact(t))
    }
  }

  app.get('/attributes', {
    config: { auth: { role: 'viewer' } },
    schema: { tags, summary: 'Retrieve Available Attributes (5.7.8/5.7.9)', querystring: S.DetailsQuery }
  }, async (req, reply) => {
    const ctx = await contextOf(contexts, req)
    const attrs = [...catalog.attrs.keys()].sort()
    if (req.query.details === true) return await answer(req, attrs.map(a => attributeInfo(a, i => ctx.compactIri(i))), reply)
    return await answer(req, { id: `urn:ngsi-ld:AttributeList:${randomUUID()}`, type: 'AttributeList', attributeList: attrs.map(a => ctx.compactIri(a)) }, reply)
  })

  app.get('/attributes/:attrId', {
    config: { auth: { role: 'viewer' } },
    schema: { tags, summary: 'Retrieve Attribute Information (5.7.10)', params: AttrParams, querystring: S.EmptyQuery }
  }, async (req, reply) => {
    const ctx = await contextOf(contexts, req)
    const iri = ctx.expandTerm(req.params.attrId)
    if (!catalog.attrs.has(iri)) throw new ResourceNotFoundError(`no entity has attribute ${req.params.attrId}`)
    return await answer(req, attributeInfo(iri, i => ctx.compactIri(i)), reply)
  })
}

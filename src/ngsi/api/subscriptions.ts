/**
 * Subscriptions (5.8.1–5.8.5): create, query, retrieve, update and delete. The work is done by
 * the SubscriptionManager; here are HTTP concerns: @context, content negotiation, paging, status
 * codes. A subscription is shown with the @context of the request when it names one (Link
 * header), else with the @context it was created with, so a client that subscribed with its own
 * terms reads them back without repeating its Link header.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { CompiledContext } from '../context/index.ts'
import { BadRequestDataError } from '../errors.ts'
import { contextLink, contextUrl, subscriptionToJson, type SubscriptionManager, type SubscriptionSnapshot } from '../subscriptions/index.ts'
import { pageLinks } from './entities.ts'
import { contextOf, linkHeader, negotiate } from './http.ts'
import type { NgsiRoutesOptions } from './interface.ts'
import { assertBodyType, JSON_LD, linkContext, type ResponseType } from './negotiation.ts'
import { options, paging } from './params.ts'

const S = (description: string) => Type.Optional(Type.String({ description }))
const B = (description: string) => Type.Optional(Type.Boolean({ description }))
const local = B('accepted for compatibility; subscriptions are per domain and never forwarded')

const SubscriptionIdParams = Type.Object({ subscriptionId: Type.String({ description: 'subscription id (a URI), URL-encoded' }) })
const ListQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 0, description: 'page size (default 20, at most the configured maximum)' })),
  offset: Type.Optional(Type.Integer({ minimum: 0, description: 'index of the first result' })),
  count: B('return the total number of subscriptions in the NGSILD-Results-Count header'),
  options: S('sysAttrs: include createdAt and modifiedAt'),
  local
}, { additionalProperties: false })
const RetrieveQuery = Type.Object({ options: S('sysAttrs: include createdAt and modifiedAt'), local }, { additionalProperties: false })
const WriteQuery = Type.Object({ local }, { additionalProperties: false })
const SubscriptionBody = Type.Unknown({ description: 'an NGSI-LD Subscription (create) or Subscription fragment (update), application/json with a Link header or application/ld+json with @context' })

/** The id of a URL, checked to be a URI (5.8.x: 400 BadRequestData otherwise). */
function subscriptionIdParam (raw: string): string {
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:\S+$/.test(raw)) throw new BadRequestDataError(`subscription id ${raw} is not a URI`)
  return raw
}

export const subscriptionRoutes: FastifyPluginAsync<NgsiRoutesOptions & { subscriptions: SubscriptionManager }> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { subscriptions, contexts, limits, basePath } = opts
  const tags = ['ngsi-ld subscriptions']

  /** The request's own @context when it names one; undefined lets each subscription use its own. */
  const requestContext = async (req: FastifyRequest): Promise<CompiledContext | undefined> => {
    return linkContext(req.headers.link) !== undefined ? await contextOf(contexts, req) : undefined
  }

  const render = async (snap: SubscriptionSnapshot, given: CompiledContext | undefined, type: ResponseType, sysAttrs: boolean): Promise<{ json: Record<string, unknown>, ctx: CompiledContext }> => {
    const ctx = given ?? await subscriptions.contextFor(snap.record)
    const json = subscriptionToJson(snap.record, snap.counters, ctx, { sysAttrs })
    if (type === JSON_LD) json['@context'] = ctx.value
    return { json, ctx }
  }

  const setHeaders = (reply: FastifyReply, type: ResponseType, ctx: CompiledContext | undefined, extraLinks: string[] = []): void => {
    if (type === JSON_LD) {
      void reply.type('application/ld+json')
      if (extraLinks.length > 0) void reply.header('Link', extraLinks.join(', '))
      return
    }
    const link = ctx !== undefined ? linkHeader(ctx) : contextLink(contextUrl(undefined))
    void reply.type('application/json').header('Link', [link, ...extraLinks].join(', '))
  }

  app.post('/subscriptions', {
    config: { auth: { anyOf: ['deployer', 'operator'] } },
    schema: { tags, summary: 'Create Subscription (5.8.1)', body: SubscriptionBody, querystring: WriteQuery }
  }, async (req, reply) => {
    assertBodyType(req)
    const ctx = await contextOf(contexts, req, req.body)
    const snap = await subscriptions.create(req.body, ctx)
    return reply.status(201).header('Location', `${basePath}/subscriptions/${encodeURIComponent(snap.record.id)}`).send()
  })

  app.get('/subscriptions', {
    config: { auth: { role: 'viewer' } },
    schema: { tags, summary: 'Query Subscriptions (5.8.4)', querystring: ListQuery }
  }, async (req, reply) => {
    const q = req.query
    const type = negotiate(req.headers.accept, { geo: false })
    const sysAttrs = options(q.options, ['sysAttrs']).has('sysAttrs')
    const page = paging(q, limits)
    const given = await requestContext(req)
    const { items, total } = subscriptions.list({ offset: page.offset, limit: page.limit })
    const rendered = await Promise.all(items.map(async s => await render(s, given, type, sysAttrs)))
    if (page.count) void reply.header('NGSILD-Results-Count', String(total))
    const links = pageLinks(`${basePath}/subscriptions`, q as Record<string, unknown>, page, items.length, total)
    // application/json: one Link header for the page: the request's context, else the first item's
    setHeaders(reply, type, given ?? rendered[0]?.ctx, links)
    return reply.send(JSON.stringify(rendered.map(r => r.json)))
  })

  app.get('/subscriptions/:subscriptionId', {
    config: { auth: { role: 'viewer' } },
    schema: { tags, summary: 'Retrieve Subscription (5.8.3)', params: SubscriptionIdParams, querystring: RetrieveQuery }
  }, async (req, reply) => {
    const id = subscriptionIdParam(req.params.subscriptionId)
    const type = negotiate(req.headers.accept, { geo: false })
    const sysAttrs = options(req.query.options, ['sysAttrs']).has('sysAttrs')
    const given = await requestContext(req)
    const { json, ctx } = await render(subscriptions.get(id), given, type, sysAttrs)
    setHeaders(reply, type, ctx)
    return reply.send(JSON.stringify(json))
  })

  app.patch('/subscriptions/:subscriptionId', {
    config: { auth: { anyOf: ['deployer', 'operator'] } },
    schema: { tags, summary: 'Update Subscription (5.8.2)', params: SubscriptionIdParams, body: SubscriptionBody, querystring: WriteQuery }
  }, async (req, reply) => {
    assertBodyType(req)
    const id = subscriptionIdParam(req.params.subscriptionId)
    const ctx = await contextOf(contexts, req, req.body)
    await subscriptions.update(id, req.body, ctx)
    return reply.status(204).send()
  })

  app.delete('/subscriptions/:subscriptionId', {
    config: { auth: { anyOf: ['deployer', 'operator'] } },
    schema: { tags, summary: 'Delete Subscription (5.8.5)', params: SubscriptionIdParams, querystring: WriteQuery }
  }, async (req, reply) => {
    await subscriptions.delete(subscriptionIdParam(req.params.subscriptionId))
    return reply.status(204).send()
  })
}

/**
 * The NGSI-LD API plugin: registers the JSON-LD body parsers and every route group under the
 * prefix it is mounted at (`/ngsi-ld/v1`).
 */
import type { FastifyPluginAsync } from 'fastify'
import { batchRoutes } from './batch.ts'
import { discoveryRoutes } from './discovery.ts'
import { entityRoutes } from './entities.ts'
import type { NgsiRoutesOptions } from './interface.ts'
import { subscriptionRoutes } from './subscriptions.ts'

export const ngsiApi: FastifyPluginAsync<NgsiRoutesOptions> = async (app, opts) => {
  // application/ld+json and merge-patch bodies are JSON, parsed with fastify's hardened parser
  // (prototype-poisoning protection). Other types are refused with 415 by fastify itself.
  app.addContentTypeParser(['application/ld+json', 'application/merge-patch+json'], { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'))
  // Only our options go down: passing fastify's own `prefix` again would mount the routes twice as deep.
  const child: NgsiRoutesOptions = { service: opts.service, contexts: opts.contexts, limits: opts.limits, basePath: opts.basePath, subscriptions: opts.subscriptions, federation: opts.federation }
  await app.register(entityRoutes, child)
  await app.register(batchRoutes, child)
  await app.register(discoveryRoutes, child)
  if (opts.subscriptions != null) await app.register(subscriptionRoutes, { ...child, subscriptions: opts.subscriptions })
}

/** Route patterns with their methods, to answer 405 (not 404) for a known path with another method. */
export const NGSI_ROUTES: Array<{ re: RegExp, methods: string[] }> = [
  { re: /^\/entities\/?$/, methods: ['GET', 'POST'] },
  { re: /^\/entities\/[^/]+\/?$/, methods: ['GET', 'DELETE', 'PATCH', 'PUT'] },
  { re: /^\/entities\/[^/]+\/attrs\/?$/, methods: ['POST', 'PATCH'] },
  { re: /^\/entities\/[^/]+\/attrs\/[^/]+\/?$/, methods: ['PATCH', 'PUT', 'DELETE'] },
  { re: /^\/entityOperations\/(create|upsert|update|delete|merge|query)\/?$/, methods: ['POST'] },
  { re: /^\/types(\/[^/]+)?\/?$/, methods: ['GET'] },
  { re: /^\/attributes(\/[^/]+)?\/?$/, methods: ['GET'] },
  { re: /^\/subscriptions\/?$/, methods: ['GET', 'POST'] },
  { re: /^\/subscriptions\/[^/]+\/?$/, methods: ['GET', 'PATCH', 'DELETE'] }
]

/** The methods allowed on an NGSI-LD path (relative to the prefix), or null if the path is unknown. */
export function allowedMethods (path: string): string[] | null {
  return NGSI_ROUTES.find(r => r.re.test(path))?.methods ?? null
}

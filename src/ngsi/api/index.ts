/**
 * The NGSI-LD REST API (ETSI GS CIM 009): entities, attributes, batch operations, queries,
 * discovery and subscriptions, as a fastify plugin.
 *
 * ```ts
 * await app.register(ngsiApi, { prefix: '/ngsi-ld/v1', basePath: '/ngsi-ld/v1', service, contexts, limits: { defaultLimit: 20, maxLimit: 1000 } })
 * ```
 */
export { ngsiApi, allowedMethods, NGSI_ROUTES } from './plugin.ts'
export type { NgsiRoutesOptions, NgsiLimits } from './interface.ts'

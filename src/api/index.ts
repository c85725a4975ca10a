/**
 * The node's REST API (fastify): health, mesh status, and (in later modules) NGSI-LD.
 *
 * ```ts
 * const { app, routes } = await createApi({ log, info: () => nodeInfo, mesh }, { version: '0.1.0', accessControl })
 * await app.listen({ host: '127.0.0.1', port: 1026 })
 * ```
 * Every route carries JSON schemas; every error becomes ProblemDetails through one handler.
 * OpenAPI: `/docs` (UI) and `/docs/json`.
 */
export { createApi, type Api, type ApiInit } from './server.ts'
export { PROBLEMS, problemFor, type ProblemDetails } from './problem.ts'
export type { ApiComponents, MeshView, NodeInfo } from './interface.ts'

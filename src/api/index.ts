/**
 * The node's REST API (fastify): health, mesh status, and (in later modules) NGSI-LD.
 *
 * ```ts
 * const api = await createApi({ log, info: () => nodeInfo, mesh }, { version: '0.1.0' })
 * await api.listen({ host: '127.0.0.1', port: 1026 })
 * ```
 * Every route carries JSON schemas; every error becomes ProblemDetails through one handler.
 * OpenAPI: `/docs` (UI) and `/docs/json`.
 */
export { createApi, type Api, type ApiInit } from './server.ts'
export { PROBLEMS, problemFor, type ProblemDetails } from './problem.ts'
export type { ApiComponents, MeshView, NodeInfo } from './interface.ts'

import Fastify, { LogController, type FastifyError, type FastifyInstance } from 'fastify'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Logger } from 'pino'
import { FASTIFY_CODES, PROBLEMS, ProblemSchema, problemFor, type ProblemDetails } from './problem.ts'
import { healthRoutes } from './routes/health.ts'
import { meshRoutes } from './routes/mesh.ts'
import type { ApiComponents } from './interface.ts'

export type Api = FastifyInstance<any, any, any, Logger, TypeBoxTypeProvider>

export interface ApiInit {
  /** largest request body, bytes (default 1 MiB) */
  bodyLimit?: number
  version: string
}

function toProblem (err: FastifyError & { data?: Record<string, unknown> }, url: string): ProblemDetails {
  if (err.validation != null) {
    const where = err.validationContext ?? 'request'
    return problemFor('BAD_REQUEST', `${where}${err.message.startsWith(where) ? err.message.slice(where.length) : ': ' + err.message}`, { instance: url })
  }
  const fastifyCode = err.code != null ? FASTIFY_CODES[err.code] : undefined
  if (fastifyCode != null) return problemFor(fastifyCode, err.message, { instance: url })
  if (err.code != null && err.code in PROBLEMS) return problemFor(err.code, err.message, { instance: url })
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    return { ...problemFor('BAD_REQUEST', err.message, { instance: url }), status: err.statusCode }
  }
  return problemFor('INTERNAL', 'internal error; see the node log', { instance: url })
}

/**
 * Builds the REST API: one fastify instance, each API area a plugin, OpenAPI at /docs, and one
 * error handler that turns every error into ProblemDetails.
 */
export async function createApi (components: ApiComponents, init: ApiInit): Promise<Api> {
  const app = Fastify({
    loggerInstance: components.log,
    // Per-request lines at info would cost more than the requests; we log them at debug below.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: init.bodyLimit ?? 1024 * 1024,
    // Node's default header limits apply; a slow client must not hold a socket for ever.
    requestTimeout: 30_000,
    ajv: { customOptions: { allErrors: false, coerceTypes: 'array', removeAdditional: false } }
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as Api

  app.addSchema(ProblemSchema)

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const problem = toProblem(err, req.url)
    if (problem.status >= 500) req.log.error({ err, url: req.url, method: req.method }, 'request failed')
    else req.log.debug({ code: err.code, url: req.url, detail: problem.detail }, 'request refused')
    void reply.status(problem.status).type(problemContentType(req.url)).send(problem)
  })
  app.setNotFoundHandler((req, reply) => {
    const problem = problemFor('NOT_FOUND', `no route for ${req.method} ${req.url.split('?')[0]}`, { instance: req.url })
    void reply.status(404).type(problemContentType(req.url)).send(problem)
  })
  app.addHook('onResponse', async (req, reply) => {
    req.log.debug({ method: req.method, url: req.url, status: reply.statusCode, ms: reply.elapsedTime }, 'request')
  })

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Continuum Mesh',
        description: 'One domain node of a Continuum Mesh federation: health, membership, NGSI-LD context API.',
        version: init.version
      },
      tags: [
        { name: 'node', description: 'health and status of this node' },
        { name: 'mesh', description: 'federation membership' }
      ]
    }
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
  await app.register(healthRoutes, { components })
  await app.register(meshRoutes, { components, prefix: '/mesh/v1' })
  return app
}

/** NGSI-LD clients expect ProblemDetails as application/json; elsewhere we use RFC 9457's type. */
function problemContentType (url: string): string {
  return url.startsWith('/ngsi-ld/') ? 'application/json' : 'application/problem+json'
}

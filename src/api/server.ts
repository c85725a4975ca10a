import Fastify, { LogController, type FastifyError, type FastifyInstance } from 'fastify'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Logger } from 'pino'
import { FASTIFY_CODES, PROBLEMS, ProblemSchema, problemFor, type ProblemDetails } from './problem.ts'
import { healthRoutes } from './routes/health.ts'
import { meshRoutes } from './routes/mesh.ts'
import type { ApiComponents } from './interface.ts'
import { apiSecurityHeaders, securityHeaders } from './security-headers.ts'
import rateLimit from '@fastify/rate-limit'
import { installAccessControl, type AccessControlOptions, type RouteEntry } from '../auth/plugin.ts'

export type Api = FastifyInstance<any, any, any, Logger, TypeBoxTypeProvider>

export interface ApiInit {
  /** largest request body, bytes (default 1 MiB) */
  bodyLimit?: number
  version: string
  /** who may call what (installed before any route, so that no route escapes it) */
  accessControl: AccessControlOptions
  /** serve HTTPS with this certificate and key (PEM) */
  https?: { cert: string, key: string }
}

interface AjvLikeError { keyword: string, instancePath: string, message?: string, params: Record<string, unknown> }

/** One readable line per schema violation: `unknown query parameter 'foo'`, `querystring.limit: must be integer`. */
function describeValidation (context: string, errors: AjvLikeError[]): string {
  const where = context === 'querystring' ? 'query parameter' : context
  return errors.map(e => {
    const path = e.instancePath.replace(/^\//, '').replace(/\//g, '.')
    if (e.keyword === 'additionalProperties') {
      const name = String(e.params.additionalProperty)
      return context === 'querystring' ? `unknown query parameter '${name}'` : `${context}${path !== '' ? '.' + path : ''}: unknown member '${name}'`
    }
    if (e.keyword === 'required') return `${where} '${String(e.params.missingProperty)}' is missing`
    return `${context === 'querystring' ? 'query parameter ' : context + ' '}${path !== '' ? `'${path}' ` : ''}${e.message ?? 'is invalid'}`
  }).join('; ')
}

/** Generic codes as NGSI-LD ones, for requests under /ngsi-ld/ (NGSI-LD clients expect ETSI types). */
const NGSI_CODES: Record<string, string> = {
  BAD_REQUEST: 'NGSI_BAD_REQUEST_DATA',
  NOT_FOUND: 'NGSI_RESOURCE_NOT_FOUND',
  METHOD_NOT_ALLOWED: 'NGSI_METHOD_NOT_ALLOWED',
  PAYLOAD_TOO_LARGE: 'NGSI_PAYLOAD_TOO_LARGE',
  UNSUPPORTED_MEDIA_TYPE: 'NGSI_UNSUPPORTED_MEDIA_TYPE',
  NOT_ACCEPTABLE: 'NGSI_NOT_ACCEPTABLE',
  INTERNAL: 'NGSI_INTERNAL_ERROR'
}

export function isNgsiUrl (url: string): boolean {
  return url.startsWith('/ngsi-ld/')
}

function toProblem (err: FastifyError & { data?: Record<string, unknown> }, url: string): ProblemDetails {
  const ngsi = isNgsiUrl(url)
  const as = (code: string, detail: string): ProblemDetails => problemFor(ngsi ? NGSI_CODES[code] ?? code : code, detail, { instance: url })
  if (err.validation != null) {
    const context = err.validationContext ?? 'request'
    const detail = describeValidation(context, err.validation as unknown as AjvLikeError[])
    // NGSI-LD: a bad URI parameter is InvalidRequest, a bad body BadRequestData.
    return ngsi && context !== 'body' ? problemFor('NGSI_INVALID_REQUEST', detail, { instance: url }) : as('BAD_REQUEST', detail)
  }
  if (ngsi && (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || err instanceof SyntaxError)) {
    return problemFor('NGSI_INVALID_REQUEST', `the body is not valid JSON: ${err.message}`, { instance: url })
  }
  const fastifyCode = err.code != null ? FASTIFY_CODES[err.code] : undefined
  if (fastifyCode != null) return as(fastifyCode, err.message)
  if (err.code != null && err.code in PROBLEMS) return as(err.code, err.message)
  if (err.statusCode === 429) return as('TOO_MANY_REQUESTS', err.message)
  if (err instanceof SyntaxError || (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500)) {
    return { ...as('BAD_REQUEST', err.message), status: err.statusCode ?? 400 }
  }
  return as('INTERNAL', 'internal error; see the node log')
}

/**
 * Builds the REST API: one fastify instance, each API area a plugin, OpenAPI at /docs, and one
 * error handler that turns every error into ProblemDetails.
 */
export async function createApi (components: ApiComponents, init: ApiInit): Promise<{ app: Api, routes: RouteEntry[] }> {
  const app = Fastify({
    ...(init.https != null ? { https: { cert: init.https.cert, key: init.https.key, minVersion: 'TLSv1.2' as const } } : {}),
    loggerInstance: components.log,
    // Per-request lines at info would cost more than the requests; we log them at debug below.
    logController: new LogController({ disableRequestLogging: true }),
    // req.log is the node's logger itself, not a per-request child: building a child (bindings,
    // redaction) for every request cost ~4 % of a GET. Lines about a request carry its id.
    childLoggerFactory: (logger) => logger,
    bodyLimit: init.bodyLimit ?? 1024 * 1024,
    // Node's default header limits apply; a slow client must not hold a socket for ever.
    requestTimeout: 30_000,
    ajv: { customOptions: { allErrors: false, coerceTypes: 'array', removeAdditional: false } }
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as Api

  app.addSchema(ProblemSchema)
  const routes = installAccessControl(app, { ...init.accessControl, publicPrefixes: ['/docs'] })
  const docsSecurity = securityHeaders({ hsts: init.https != null })
  const apiSecurity = apiSecurityHeaders({ hsts: init.https != null })
  app.addHook('onRequest', (req, reply, done) => {
    void reply.headers(req.url.startsWith('/docs') ? docsSecurity : apiSecurity)
    done()
  })
  // Per-route limits only (the token endpoint), keyed by client address.
  await app.register(rateLimit, { global: false })

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const problem = toProblem(err, req.url)
    if (problem.status >= 500) req.log.error({ reqId: req.id, err, url: req.url, method: req.method }, 'request failed')
    else req.log.debug({ reqId: req.id, code: err.code, url: req.url, detail: problem.detail }, 'request refused')
    if (problem.status === 401) void reply.header('WWW-Authenticate', 'Bearer realm="continuum-mesh"')
    void reply.status(problem.status).type(problemContentType(req.url)).send(problem)
  })
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0]
    const allowed = components.allowedMethods?.(path) ?? null
    if (allowed != null && !allowed.includes(req.method)) {
      const problem = problemFor(isNgsiUrl(path) ? 'NGSI_METHOD_NOT_ALLOWED' : 'METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${path}; allowed: ${allowed.join(', ')}`, { instance: req.url })
      void reply.status(405).header('Allow', allowed.join(', ')).type(problemContentType(req.url)).send(problem)
      return
    }
    const problem = problemFor(isNgsiUrl(path) ? 'NGSI_RESOURCE_NOT_FOUND' : 'NOT_FOUND', `no route for ${req.method} ${path}`, { instance: req.url })
    void reply.status(404).type(problemContentType(req.url)).send(problem)
  })
  // Only when debug lines are wanted: a hook on every response is not free.
  if (components.log.isLevelEnabled('debug')) {
    app.addHook('onResponse', (req, reply, done) => {
      req.log.debug({ reqId: req.id, method: req.method, url: req.url, status: reply.statusCode, ms: reply.elapsedTime }, 'request')
      done()
    })
  }

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
        { name: 'mesh', description: 'federation membership' },
        { name: 'auth', description: 'tokens' }
      ],
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      security: [{ bearer: [] }]
    }
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
  await app.register(healthRoutes, { components })
  await app.register(meshRoutes, { components, prefix: '/mesh/v1' })
  for (const plugin of components.plugins ?? []) await plugin(app)
  return { app, routes }
}

/** NGSI-LD clients expect ProblemDetails as application/json; elsewhere we use RFC 9457's type. */
function problemContentType (url: string): string {
  return url.startsWith('/ngsi-ld/') ? 'application/json' : 'application/problem+json'
}

/**
 * Role-based access control for the whole REST API. Every route declares in its options
 * `config: { auth: 'public' | { role } | { anyOf: [roles] } }`; one onRequest hook enforces it
 * (401 without or with a bad token, 403 with too little role). A route that declares nothing is
 * refused with 500, and a test sweeps the route table so that none slips through.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import { hasRole, IdentityError, type Role } from '../../identity/index.ts'
import { CmeshError } from '../errors.ts'
import { ForbiddenError, UnauthorizedError } from './errors.ts'
import type { AuthService, User } from './service.ts'

export type RouteAuth = 'public' | { role: Role } | { anyOf: Role[] }

declare module 'fastify' {
  interface FastifyContextConfig {
    /** who may call this route; every route must say */
    auth?: RouteAuth
  }
  interface FastifyRequest {
    /** the caller, once authenticated (an anonymous admin when auth is disabled) */
    user?: User
  }
}

export interface RouteEntry { method: string, url: string, auth: RouteAuth | undefined }

export interface AccessControlOptions {
  /** null: auth.mode disabled — every caller acts as admin */
  auth: AuthService | null
  domain: string
  /** audit log of writes (who, what, when, outcome) */
  audit: Logger
  /** routes whose URL starts with these are public (plugins' own routes, e.g. the OpenAPI UI) */
  publicPrefixes?: string[]
}

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])
/** POST routes that only read (queries) are not audited as writes. */
const READ_POSTS = [/\/entityOperations\/query$/, /^\/auth\/v1\//]

export function describeAuth (a: RouteAuth | undefined): string {
  if (a == null) return '(none)'
  if (a === 'public') return 'public'
  return 'role' in a ? a.role : a.anyOf.join('|')
}

/** Whether roles satisfy a route's declaration. */
export function allows (a: RouteAuth, roles: readonly Role[]): boolean {
  if (a === 'public') return true
  if ('role' in a) return hasRole(roles, a.role)
  return a.anyOf.some(r => hasRole(roles, r))
}

function bearer (req: FastifyRequest): string | null {
  const h = req.headers.authorization
  if (typeof h !== 'string') return null
  const m = /^Bearer\s+(\S+)$/i.exec(h)
  return m?.[1] ?? null
}

/**
 * Installs access control on an instance before any route is registered; returns the route table
 * it records (method, URL, declared access).
 */
export function installAccessControl (app: FastifyInstance<any, any, any, any, any>, opts: AccessControlOptions): RouteEntry[] {
  const routes: RouteEntry[] = []
  const publicPrefixes = opts.publicPrefixes ?? []
  const anonymousAdmin: User = { subject: 'anonymous (auth disabled)', roles: ['admin'], issuer: opts.domain }
  app.decorateRequest('user', undefined)
  app.addHook('onRoute', (r) => {
    const methods = Array.isArray(r.method) ? r.method : [r.method]
    for (const m of methods) if (m !== 'HEAD') routes.push({ method: m, url: r.url, auth: (r.config as { auth?: RouteAuth } | undefined)?.auth })
  })
  app.addHook('onRequest', async (req) => {
    const url = req.routeOptions.url
    if (url == null) return // no route: the not-found handler answers
    const declared = req.routeOptions.config?.auth ?? (publicPrefixes.some(p => url.startsWith(p)) ? 'public' : undefined)
    if (declared == null) {
      throw new CmeshError('ROUTE_WITHOUT_ROLE', `route ${req.method} ${url} declares no access rule`)
    }
    if (declared === 'public') return
    if (opts.auth == null) { req.user = anonymousAdmin; return }
    const token = bearer(req)
    if (token == null) throw new UnauthorizedError('a bearer token is required (get one from POST /auth/v1/token)')
    let user: User
    try {
      const v = await opts.auth.verify(token)
      user = { subject: v.subject, roles: v.roles, issuer: v.issuer }
    } catch (err) {
      if (err instanceof IdentityError) throw new UnauthorizedError(`token refused: ${err.message}`)
      throw err
    }
    req.user = user
    if (!allows(declared, user.roles)) {
      throw new ForbiddenError(`${req.method} ${url} needs role ${describeAuth(declared)}; ${user.subject}@${user.issuer} has ${user.roles.join(', ') || 'none'}`)
    }
  })
  // Callback style: this runs after every response, and most are reads that it skips at once.
  app.addHook('onResponse', (req, reply, done) => {
    if (WRITES.has(req.method)) audit(req, reply)
    done()
  })
  function audit (req: FastifyRequest, reply: FastifyReply): void {
    const path = req.url.split('?')[0]
    if (req.method === 'POST' && READ_POSTS.some(re => re.test(path))) return
    opts.audit.info({
      user: req.user?.subject ?? null,
      issuer: req.user?.issuer ?? null,
      method: req.method,
      path,
      status: reply.statusCode,
      forwardedBy: req.headers['x-cmesh-forwarded-by'] ?? undefined
    }, 'write')
  }
  return routes
}

/** Throws 403 unless the caller holds one of `roles` (for checks that depend on the request's content). */
export function requireOneOf (req: FastifyRequest, roles: Role[], what: string): void {
  const user = req.user
  if (user == null) throw new UnauthorizedError(`${what} needs an authenticated caller`)
  if (!roles.some(r => hasRole(user.roles, r))) {
    throw new ForbiddenError(`${what} needs role ${roles.join(' or ')}; ${user.subject}@${user.issuer} has ${user.roles.join(', ') || 'none'}`)
  }
}

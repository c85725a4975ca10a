import { Type } from 'typebox'
import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { AuthService } from './service.ts'

const Tokens = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer({ description: 'seconds' }),
  refresh_token: Type.String(),
  refresh_expires_in: Type.Integer({ description: 'seconds (0 when the refresh token given is returned)' }),
  roles: Type.Array(Type.String()),
  issuer: Type.String({ description: 'the domain that signed the token' })
})

export interface AuthRoutesOptions {
  /** null when auth is disabled: the token endpoint answers 404 */
  auth: AuthService | null
  loginRateLimit: number
}

export const authRoutes: FastifyPluginAsync<AuthRoutesOptions> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const tags = ['auth']
  const rateLimit = { max: opts.loginRateLimit, timeWindow: '1 minute' }

  app.post('/token', {
    config: { auth: 'public', rateLimit },
    schema: {
      tags,
      summary: 'Log in: username and password (checked against this domain\'s directory) → a short-lived token every member domain accepts',
      body: Type.Object({ username: Type.String({ minLength: 1, maxLength: 256 }), password: Type.String({ minLength: 1, maxLength: 1024 }) }, { additionalProperties: false }),
      response: { 200: Tokens }
    }
  }, async (req) => {
    if (opts.auth == null) throw Object.assign(new Error('authentication is disabled on this domain (auth.mode: disabled)'), { code: 'NOT_FOUND' })
    return await opts.auth.login(req.body.username, req.body.password, AbortSignal.timeout(15_000))
  })

  app.post('/refresh', {
    config: { auth: 'public', rateLimit },
    schema: {
      tags,
      summary: 'Trade a refresh token (issued by this domain) for a new access token',
      body: Type.Object({ refresh_token: Type.String({ minLength: 1, maxLength: 8192 }) }, { additionalProperties: false }),
      response: { 200: Tokens }
    }
  }, async (req) => {
    if (opts.auth == null) throw Object.assign(new Error('authentication is disabled on this domain (auth.mode: disabled)'), { code: 'NOT_FOUND' })
    return await opts.auth.refresh(req.body.refresh_token)
  })

  app.get('/whoami', {
    config: { auth: { role: 'viewer' } },
    schema: {
      tags,
      summary: 'The caller as this domain sees it: subject, roles, issuing domain',
      response: { 200: Type.Object({ subject: Type.String(), roles: Type.Array(Type.String()), issuer: Type.String() }) }
    }
  }, async (req) => req.user as { subject: string, roles: string[], issuer: string })
}

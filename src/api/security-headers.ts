/**
 * Security headers, computed once at start and set on every reply.
 *
 * - The OpenAPI UI (`/docs`, HTML) gets helmet's defaults (CSP, nosniff, frame denial, referrer
 *   policy, …), computed by running helmet against a stand-in response: running helmet per
 *   request (as @fastify/helmet does) re-parses the CSP each time (~15 % of a small request's CPU).
 * - JSON API responses get the set the OWASP REST Security Cheat Sheet asks of an API (no
 *   content sniffing, no framing, nothing loaded or referred, HSTS over HTTPS): the browser-only
 *   headers of helmet's twelve cost ~20 % of a small GET's throughput here, for nothing a JSON
 *   client uses.
 */
import helmet from 'helmet'
import type { IncomingMessage, ServerResponse } from 'node:http'

export function securityHeaders (opts: { hsts: boolean }): Record<string, string> {
  const headers: Record<string, string> = {}
  const res = {
    setHeader: (name: string, value: string | number | readonly string[]) => { headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value) },
    removeHeader: (name: string) => { delete headers[name.toLowerCase()] }
  }
  const middleware = helmet({
    // The OpenAPI UI styles itself inline and loads its images as data: URLs.
    contentSecurityPolicy: { directives: { 'style-src': ["'self'", "'unsafe-inline'"], 'img-src': ["'self'", 'data:'] } },
    strictTransportSecurity: opts.hsts
  })
  middleware({} as IncomingMessage, res as unknown as ServerResponse, () => {})
  return headers
}

export function apiSecurityHeaders (opts: { hsts: boolean }): Record<string, string> {
  return {
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
    'referrer-policy': 'no-referrer',
    ...(opts.hsts ? { 'strict-transport-security': 'max-age=31536000; includeSubDomains' } : {})
  }
}

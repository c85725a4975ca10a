/**
 * Writes to entities another domain owns are carried out by that domain: the request goes to the
 * owner over the mesh (request/response protocol), and the client gets the owner's answer. If the
 * owner cannot be reached, nothing is written and the client gets 503.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import { NgsiError } from '../errors.ts'
import type { WritePolicy } from '../policy.ts'
import type { Entity } from '../types.ts'

/** A request as forwarded to the owner, and the owner's response. */
export interface ForwardedRequest {
  method: string
  url: string
  headers: Record<string, string>
  body?: string
}

export interface ForwardedResponse {
  status: number
  headers: Record<string, string>
  body: string
}

export interface Federation {
  policy: WritePolicy
  /** carries out a request at the owner; throws OwnerUnavailableError when it cannot be reached */
  forward: (owner: string, request: ForwardedRequest) => Promise<ForwardedResponse>
}

/** Marks requests that were forwarded once, so that they are never forwarded again (no loops). */
export const FORWARDED_BY = 'x-cmesh-forwarded-by'

/** Request headers that travel with a forwarded request. */
const PASSED_HEADERS = ['content-type', 'link', 'accept', 'authorization', 'ngsild-tenant']

/** Response headers that travel back. */
export const RETURNED_HEADERS = ['content-type', 'location', 'link', 'ngsild-results-count', 'allow']

export class OwnerUnavailableError extends NgsiError {
  constructor (owner: string, reason: string) {
    super('NGSI_OWNER_UNAVAILABLE', `the entity belongs to domain ${owner}, which cannot be reached (${reason}); nothing was written`, { owner })
    this.name = 'OwnerUnavailableError'
  }
}

export function forwardedRequest (req: FastifyRequest, body?: unknown): ForwardedRequest {
  const headers: Record<string, string> = {}
  for (const h of PASSED_HEADERS) {
    const v = req.headers[h]
    if (typeof v === 'string') headers[h] = v
  }
  const payload = body !== undefined ? body : req.body
  return { method: req.method, url: req.url, headers, body: payload === undefined ? undefined : JSON.stringify(payload) }
}

export function sendForwarded (reply: FastifyReply, res: ForwardedResponse): FastifyReply {
  void reply.status(res.status)
  for (const [k, v] of Object.entries(res.headers)) void reply.header(k, v)
  return reply.send(res.body === '' ? undefined : res.body)
}

/**
 * If another domain owns the entity, forwards the request there and answers with its response
 * (returns true). A request that was already forwarded once is never forwarded again.
 */
export async function forwardIfForeign (federation: Federation | undefined, req: FastifyRequest, reply: FastifyReply, id: string, incoming?: Pick<Entity, 'id' | 'type' | 'attrs'>): Promise<boolean> {
  if (federation == null) return false
  const owner = await federation.policy.ownerForWrite(id, incoming)
  if (owner == null) return false
  if (req.headers[FORWARDED_BY] != null) {
    throw new OwnerUnavailableError(owner, `this domain also sees ${owner} as the owner of ${id}; ownership is changing`)
  }
  sendForwarded(reply, await federation.forward(owner, forwardedRequest(req)))
  return true
}

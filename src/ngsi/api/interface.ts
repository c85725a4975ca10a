import type { ContextResolver } from '../context/index.ts'
import type { NgsiService } from '../service.ts'
import type { SubscriptionManager } from '../subscriptions/index.ts'
import type { Federation } from './federation.ts'

export interface NgsiLimits {
  /** page size when the request gives none (default 20) */
  defaultLimit: number
  /** largest page; a larger limit is TooManyResults (default 1000) */
  maxLimit: number
}

export interface NgsiRoutesOptions {
  service: NgsiService
  contexts: ContextResolver
  limits: NgsiLimits
  /** the API prefix, for Location and Link headers (e.g. /ngsi-ld/v1); not named `prefix`, which fastify takes as a route prefix */
  basePath: string
  /** the subscriptions of this domain; without it the /subscriptions routes are not mounted */
  subscriptions?: SubscriptionManager
  /** replication: writes to entities other domains own are forwarded to them; without it, all writes are local */
  federation?: Federation
}

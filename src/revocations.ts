/**
 * Revocation of domain certificates across the federation. The federation administrator signs a
 * revocation list with the CA (`cmesh ca revoke`) and posts it to any domain; it is stored as a
 * `RevocationList` entity and replicates like any entity. Every domain applies the newest valid
 * list to its mesh (revoked domains are disconnected and refused) and to authentication (their
 * tokens are refused). Only documents signed by the federation CA are accepted, here and by the
 * write policy for changes from other domains, so a member cannot roll a list back.
 */
import { Type } from 'typebox'
import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Logger } from 'pino'
import { verifyRevocationList, type RevocationList } from '../identity/index.ts'
import type { Mesh } from '../mesh/index.ts'
import { CmeshError } from './errors.ts'
import { DEFAULT_INSTANCE, type EntityStore } from './ngsi/store/index.ts'
import { DEFAULT_VOCAB, type Entity } from './ngsi/types.ts'

export const REVOCATION_TYPE = `${DEFAULT_VOCAB}RevocationList`
export const DOCUMENT_ATTR = `${DEFAULT_VOCAB}document`

/** True when `doc` is a revocation list signed by this CA (false without a CA). */
export function isValidRevocationList (doc: unknown, caCertPem: string | null): boolean {
  if (caCertPem == null) return false
  try { verifyRevocationList(doc, caCertPem); return true } catch { return false }
}

export function revocationEntityId (list: RevocationList): string {
  return `urn:ngsi-ld:RevocationList:${list.issuer.replace(/:/g, '').toLowerCase()}`
}

export interface RevocationsComponents {
  store: EntityStore
  mesh: Mesh
  log: Logger
  /** called after a newer list took effect (e.g. to forget cached token verifications) */
  onApplied?: () => void
}

export class Revocations {
  private readonly c: RevocationsComponents
  private readonly caCertPem: string | null
  private readonly onChange = (e: CustomEvent<{ after: Entity | null }>): void => {
    const after = e.detail.after
    if (after?.type.includes(REVOCATION_TYPE) === true) this.apply(after)
  }

  constructor (components: RevocationsComponents, caCertPem: string | null) {
    this.c = components
    this.caCertPem = caCertPem
  }

  /** Applies the lists already held, then follows changes. */
  async start (): Promise<void> {
    if (this.caCertPem == null) return
    for await (const chunk of this.c.store.scan({ types: [REVOCATION_TYPE] })) for (const e of chunk) this.apply(e)
    this.c.store.events.addEventListener('change', this.onChange)
  }

  stop (): void {
    this.c.store.events.removeEventListener('change', this.onChange)
  }

  /** Verifies a posted list and stores it as the federation's RevocationList entity. */
  async publish (doc: unknown): Promise<{ id: string, list: RevocationList, applied: boolean }> {
    if (this.caCertPem == null) throw new CmeshError('NO_FEDERATION_CA', 'this domain has no federation CA certificate (see `cmesh ca issue`): it cannot check revocation lists')
    const list = verifyRevocationList(doc, this.caCertPem)
    const id = revocationEntityId(list)
    let applied = false
    await this.c.store.mutate(id, (current) => {
      const held = current?.attrs[DOCUMENT_ATTR]?.[0]?.value as RevocationList | undefined
      if (held != null && held.sequence >= list.sequence) return null
      applied = true
      return {
        ...(current == null ? { create: true, types: [REVOCATION_TYPE] } : {}),
        attrs: [
          [DOCUMENT_ATTR, DEFAULT_INSTANCE, { type: 'JsonProperty', value: list }],
          [`${DEFAULT_VOCAB}sequence`, DEFAULT_INSTANCE, { type: 'Property', value: list.sequence }]
        ]
      }
    })
    return { id, list, applied }
  }

  /** The list in effect, if any. */
  current (): RevocationList | null {
    return this.c.mesh.revocationList()
  }

  private apply (entity: Entity): void {
    const doc = entity.attrs[DOCUMENT_ATTR]?.[0]?.value
    try {
      const r = this.c.mesh.setRevocationList(doc)
      if (r.applied) {
        this.c.log.warn({ sequence: r.sequence, revokedPeers: r.revokedPeers }, 'revocation list applied')
        this.c.onApplied?.()
      }
    } catch (err) {
      this.c.log.error({ err, id: entity.id }, 'ignoring an invalid revocation list')
    }
  }
}

const List = Type.Object({
  issuer: Type.String(),
  serials: Type.Array(Type.String()),
  issuedAt: Type.String(),
  sequence: Type.Integer(),
  signature: Type.String()
})

export const revocationRoutes: FastifyPluginAsync<{ revocations: Revocations }> = async (fastify, { revocations }) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  app.post('/revocations', {
    config: { auth: { role: 'admin' } },
    schema: {
      tags: ['federation'],
      summary: 'Publish a revocation list signed by the federation CA (`cmesh ca revoke`); it replicates to every domain',
      body: List,
      response: { 200: Type.Object({ id: Type.String(), sequence: Type.Integer(), applied: Type.Boolean({ description: 'false when a list as new or newer was already held' }) }) }
    }
  }, async (req) => {
    const r = await revocations.publish(req.body)
    return { id: r.id, sequence: r.list.sequence, applied: r.applied }
  })
  app.get('/revocations', {
    config: { auth: { role: 'viewer' } },
    schema: { tags: ['federation'], summary: 'The revocation list in effect here', response: { 200: Type.Union([List, Type.Null()]) } }
  }, async () => revocations.current())
}

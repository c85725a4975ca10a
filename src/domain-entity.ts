/**
 * Each domain publishes its own `Domain` entity (aerOS data model): where its API is, and the
 * keys others need to trust it — its libp2p peer id and the public key that signs its tokens.
 * It replicates like any entity, so every member can verify every other member's tokens.
 */
import { DEFAULT_INSTANCE, type EntityStore, type Mutation } from './ngsi/store/index.ts'
import { DEFAULT_VOCAB, type Attribute } from './ngsi/types.ts'

export interface DomainFacts {
  domain: string
  fqdn: string
  publicUrl: string
  peerId: string
  /** `ed25519:<base64url>` (identity's exportPublicKey) */
  signingKey: string
}

const v = (name: string): string => DEFAULT_VOCAB + name

/** Creates or updates this domain's Domain entity; writes nothing when it is already current. */
export async function publishDomainEntity (store: EntityStore, facts: DomainFacts): Promise<void> {
  const want: Record<string, unknown> = {
    publicUrl: facts.publicUrl,
    isEntrypoint: false,
    domainStatus: 'Functional',
    fqdn: facts.fqdn,
    peerId: facts.peerId,
    signingKey: facts.signingKey
  }
  await store.mutate(`urn:ngsi-ld:Domain:${facts.domain}`, (current) => {
    const attrs = Object.entries(want)
      .filter(([k, value]) => current?.attrs[v(k)]?.[0]?.value !== value)
      .map(([k, value]) => [v(k), DEFAULT_INSTANCE, { type: 'Property', value } satisfies Attribute] as [string, string, Attribute])
    if (current != null && attrs.length === 0) return null
    const m: Mutation = { attrs }
    if (current == null) { m.create = true; m.types = [v('Domain')] }
    return m
  })
}

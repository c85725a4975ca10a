/**
 * The federation's write policy: who may write which entity. Entities of domain-owned types
 * (Domain, InfrastructureElement, LowLevelOrchestrator by default) belong to one domain and only
 * that domain writes them; any member may write the others. The same rules apply to writes made
 * through this node's API (they are forwarded to the owner) and to changes received from other
 * domains (they are rejected), so that no domain holds a change the others refuse.
 */
import { Ajv } from 'ajv'
import { viewOf, type EntityStore, type Change, type EntityRecord, type Envelope } from './store/index.ts'
import { BadRequestDataError } from './errors.ts'
import { DEFAULT_VOCAB, type Attribute, type Entity } from './types.ts'

/** The aerOS relationship from an infrastructure entity to its domain. */
export const DOMAIN_RELATIONSHIP = `${DEFAULT_VOCAB}domain`
export const DOMAIN_TYPE = `${DEFAULT_VOCAB}Domain`
const DOMAIN_URN = 'urn:ngsi-ld:Domain:'

/** Default domain-owned types (compact names, expanded with the core context's @vocab). */
export const DEFAULT_OWNED_TYPES = ['Domain', 'InfrastructureElement', 'LowLevelOrchestrator']

/** `urn:ngsi-ld:Domain:edge-1` → `edge-1` */
export function domainFromUrn (urn: unknown): string | null {
  return typeof urn === 'string' && urn.startsWith(DOMAIN_URN) && urn.length > DOMAIN_URN.length ? urn.slice(DOMAIN_URN.length) : null
}

const changeSchema = {
  type: 'object',
  required: ['id', 'o', 'n', 'h'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', minLength: 3, maxLength: 2048, pattern: '^[A-Za-z][A-Za-z0-9+.-]*:' },
    o: { type: 'string', minLength: 1, maxLength: 63 },
    n: { type: 'integer', minimum: 1 },
    h: { type: 'string', pattern: '^\\d{16}-\\d{5}$' },
    c: { const: 1 },
    d: { const: 1 },
    t: { type: 'array', minItems: 1, maxItems: 64, items: { type: 'string', minLength: 1, maxLength: 2048 } },
    s: { anyOf: [{ type: 'null' }, { type: 'array', maxItems: 64, items: { type: 'string', maxLength: 1024 } }] },
    a: {
      type: 'array',
      maxItems: 10_000,
      items: {
        type: 'array',
        minItems: 3,
        maxItems: 3,
        items: [
          { type: 'string', minLength: 1, maxLength: 2048 },
          { type: 'string', minLength: 1, maxLength: 2048 },
          {
            anyOf: [
              { type: 'null' },
              {
                type: 'object',
                required: ['type'],
                properties: {
                  type: { enum: ['Property', 'Relationship', 'GeoProperty', 'LanguageProperty', 'VocabularyProperty', 'JsonProperty', 'ListProperty', 'ListRelationship'] }
                }
              }
            ]
          }
        ]
      }
    }
  }
} as const

const validateChange = new Ajv({ allErrors: false, strictTuples: false }).compile<Change>(changeSchema)

export interface WritePolicyInit {
  /** this domain's name */
  domain: string
  /** expanded type IRIs whose entities belong to one domain */
  ownedTypes: string[]
  /**
   * Entities of owned types whose id has the aerOS form `urn:ngsi-ld:<Type>:<domain>:<local id>`
   * belong to `<domain>`, whatever they hold (as a Domain entity belongs to the domain its id
   * names): who may write them is then known from the id alone, so it never depends on which
   * creation arrived first (default false: ids need not follow the form)
   */
  ownerInId?: boolean
  /** entities of this type must carry a `document` the check accepts (CA-signed revocation lists) */
  signedDocuments?: { type: string, attr: string, isValid: (doc: unknown) => boolean, isNewer: (doc: unknown, held: unknown) => boolean }
}

export class WritePolicy {
  private readonly store: EntityStore
  private readonly owned: Set<string>
  private readonly signed?: WritePolicyInit['signedDocuments']
  /** the types whose entities the policy looks at: owned ones and the signed-document type */
  private readonly judged: Set<string>
  /** `urn:ngsi-ld:<Type>:` of each owned type but Domain, when ownerInId */
  private readonly idPrefixes: string[]
  readonly domain: string

  constructor (store: EntityStore, init: WritePolicyInit) {
    this.store = store
    this.owned = new Set(init.ownedTypes)
    this.signed = init.signedDocuments
    this.judged = new Set([...this.owned, ...(init.signedDocuments != null ? [init.signedDocuments.type] : [])])
    this.domain = init.domain
    this.idPrefixes = init.ownerInId === true
      ? init.ownedTypes.filter(t => t !== DOMAIN_TYPE).map(t => `urn:ngsi-ld:${t.slice(Math.max(t.lastIndexOf('/'), t.lastIndexOf('#')) + 1)}:`)
      : []
  }

  /**
   * The domain an id names, with ownerInId: `urn:ngsi-ld:InfrastructureElement:edge-1:node-7` →
   * `edge-1` (for the owned types); null for other ids.
   */
  idNamedOwner (id: string): string | null {
    for (const p of this.idPrefixes) {
      if (!id.startsWith(p)) continue
      const i = id.indexOf(':', p.length)
      if (i > p.length && i < id.length - 1) return id.slice(p.length, i)
    }
    return null
  }

  isOwnedType (types: readonly string[]): boolean {
    return types.some(t => this.owned.has(t))
  }

  /**
   * The domain an entity belongs to, or null when any member may write it. A Domain entity
   * belongs to the domain its id names; an infrastructure entity to the domain its `domain`
   * relationship points at; failing both, to the domain that created it.
   */
  ownerOf (entity: Pick<Entity, 'id' | 'type' | 'attrs' | 'owner'>): string | null {
    const named = this.idNamedOwner(entity.id)
    if (named != null) return named
    if (!this.isOwnedType(entity.type)) return null
    if (entity.type.includes(DOMAIN_TYPE)) {
      const fromId = domainFromUrn(entity.id)
      if (fromId != null) return fromId
    }
    const rel = relationshipDomain(entity.attrs[DOMAIN_RELATIONSHIP])
    if (rel != null) return rel
    return entity.owner ?? null
  }

  /**
   * Which domain must carry out a write to `id`: null for this domain, else the owner. `incoming`
   * is the entity as the write would make it (create, replace, upsert), if known; `current` the
   * entity as it is (null: absent), if the caller has read it already (a batch reads all at once).
   */
  async ownerForWrite (id: string, incoming?: Pick<Entity, 'id' | 'type' | 'attrs'>, current?: Entity | null): Promise<string | null> {
    const named = this.idNamedOwner(id)
    if (named != null) {
      const target = relationshipDomain(incoming?.attrs[DOMAIN_RELATIONSHIP])
      if (target != null && target !== named) throw new BadRequestDataError(`${id} belongs to domain ${named} (its id names it); its domain relationship cannot point at ${target}`, { id })
      return named === this.domain ? null : named
    }
    if (current === undefined) current = await this.store.get(id)
    // Most writes touch types no domain owns, before or after: nothing to work out (a batch of
    // 1,000 entities spent its time here copying each entity to ask).
    if (!(current != null && this.isOwnedType(current.type)) && !(incoming != null && this.isOwnedType(incoming.type))) return null
    const owner = current != null ? this.ownerOf(current) : incoming != null ? this.ownerOf({ id: incoming.id, type: incoming.type, attrs: incoming.attrs, owner: this.domain }) : null
    if (owner != null && owner !== this.domain) return owner
    // A write may not give away an entity of ours either (or create one for another domain):
    // look at the entity as the write would leave it.
    if (incoming != null) {
      const next = {
        id,
        type: [...new Set([...(current?.type ?? []), ...incoming.type])],
        attrs: { ...(current?.attrs ?? {}), ...incoming.attrs },
        owner: current?.owner ?? this.domain
      }
      const after = this.ownerOf(next)
      if (after != null && after !== this.domain) return after
    }
    return null
  }

  /**
   * Checks a received envelope: every change well-formed and allowed for its origin. Null: it may
   * be applied; a string: why it may not; `waitFor`: it changes entities this node holds no
   * record of and does not create them, so who may write them cannot be told yet (a typeless
   * update may be a member's write to another domain's new entity, relayed ahead of its creation):
   * ask again once they are here, or with `wait: false` to judge it as it stands.
   *
   * `batch` carries what earlier envelopes of the same message or frame, accepted but not applied
   * yet, create: later changes to those entities are judged against them.
   */
  async checkEnvelope (env: Envelope, opts: { wait?: boolean, batch?: PolicyBatch } = {}): Promise<PolicyVerdict> {
    for (const ch of env.c) {
      if (!validateChange(ch)) {
        const e = validateChange.errors?.[0]
        return `malformed change ${(ch as { n?: unknown })?.n as string ?? '?'}: ${e?.instancePath ?? ''} ${e?.message ?? ''}`.trim()
      }
    }
    const batch = opts.batch?.created
    // Changes that neither create their entity nor find it here (live in the index, a tombstone
    // on disk, created earlier in this envelope or batch) wait for it.
    // Our own changes coming back (after an unclean shutdown) were judged when we made them; one
    // that waited could be skipped by the recovery as lost.
    if (opts.wait !== false && env.o !== this.domain) {
      const createdHere = new Set<string>()
      const unknown = new Set<string>()
      for (const ch of env.c) {
        if (ch.c === 1) { createdHere.add(ch.id); continue }
        if (!createdHere.has(ch.id) && batch?.has(ch.id) !== true && !this.store.index.has(ch.id) && this.idNamedOwner(ch.id) == null) unknown.add(ch.id)
      }
      if (unknown.size > 0) {
        const held = await Promise.all([...unknown].map(async id => (await this.store.getRecord(id)) != null))
        const waitFor = [...unknown].filter((_, i) => !held[i])
        if (waitFor.length > 0) return { waitFor }
      }
    }
    // Every change is judged against the entity as it is before the envelope (or as an earlier
    // envelope of the batch creates it). Only entities of a judged type, before (the index knows)
    // or after the change, need reading: the rest are anyone's, whatever they hold. They are read
    // at once (one by one, a catch-up on a cold cache spent its time in single LevelDB reads;
    // reading them all, in parsing every record twice).
    const judged = this.judged
    const needed = env.c.filter(ch => ch.t?.some(t => judged.has(t)) === true || this.store.index.hasAnyType(ch.id, judged)).map(ch => ch.id)
    const current = needed.length > 0 ? await this.store.getMany(needed) : new Map<string, Entity>()
    for (const ch of env.c) {
      const refused = this.checkChange(ch, current.get(ch.id) ?? batch?.get(ch.id) ?? null)
      if (refused != null) return refused
    }
    if (batch != null) for (const ch of env.c) if (ch.c === 1) batch.set(ch.id, pendingOf(ch))
    return null
  }

  /**
   * A snapshot record from a peer (anti-entropy after log compaction) keeps only what the policy
   * allows: for an entity one domain owns, the registers that domain wrote. Snapshots carry no
   * per-change signatures, so this is the check that remains.
   */
  async checkRecord (raw: unknown): Promise<EntityRecord | null> {
    if (raw == null || typeof raw !== 'object' || typeof (raw as { id?: unknown }).id !== 'string' || typeof (raw as { attrs?: unknown }).attrs !== 'object') return null
    const rec = structuredClone(raw) as EntityRecord
    const local = await this.store.get(rec.id)
    const view = viewOf(rec)
    const types = [...(local?.type ?? []), ...(view?.type ?? [])]
    const named = this.idNamedOwner(rec.id)
    if (named == null && !this.isOwnedType(types)) return rec
    const owner = named ?? (local != null ? this.ownerOf(local) : null) ?? (view != null ? this.ownerOf(view) : null)
    if (owner == null) return rec
    for (const k of ['created', 'types', 'scope', 'deleted'] as const) if (rec[k] != null && rec[k].o !== owner) delete rec[k]
    for (const [name, instances] of Object.entries(rec.attrs ?? {})) {
      for (const [inst, reg] of Object.entries(instances)) if (reg?.o !== owner) delete instances[inst]
      if (Object.keys(instances).length === 0) delete rec.attrs[name]
    }
    return rec
  }

  private checkChange (ch: Change, current: Entity | null): string | null {
    const signed = this.signed
    if (signed != null && ((ch.t ?? current?.type ?? []).includes(signed.type))) {
      if (ch.d === 1) return `${ch.o} may not delete ${ch.id}`
      for (const [name, , value] of ch.a ?? []) {
        if (name !== signed.attr) continue
        if (value == null || !signed.isValid(value.value)) return `${ch.o} wrote ${ch.id} without a document signed by the federation CA`
        const held = current?.attrs[signed.attr]?.[0]?.value
        if (held != null && !signed.isNewer(value.value, held)) return `${ch.o} tried to replace ${ch.id} with an older document`
      }
    }
    // An id that names its domain decides alone, whatever this domain holds.
    const named = this.idNamedOwner(ch.id)
    if (named != null) {
      if (ch.o !== named) return `${ch.o} may not write ${ch.id}, which belongs to ${named} (its id names it)`
      return this.checkDomainRelationship(ch)
    }
    const types = ch.t ?? current?.type ?? []
    if (!this.isOwnedType(types) && (current == null || !this.isOwnedType(current.type))) return null
    if (current != null) {
      const owner = this.ownerOf(current)
      if (owner != null && owner !== ch.o) return `${ch.o} may not write ${ch.id}, which belongs to ${owner}`
    }
    if (types.includes(DOMAIN_TYPE)) {
      const named = domainFromUrn(ch.id)
      if (named != null && named !== ch.o) return `${ch.o} may not write the Domain entity of ${named}`
    }
    return this.checkDomainRelationship(ch)
  }

  /** A change may point an entity's `domain` relationship at its own domain only. */
  private checkDomainRelationship (ch: Change): string | null {
    for (const [name, , value] of ch.a ?? []) {
      if (name !== DOMAIN_RELATIONSHIP || value == null) continue
      const target = relationshipDomain([value])
      if (target != null && target !== ch.o) return `${ch.o} may not assign ${ch.id} to domain ${target}`
    }
    return null
  }
}

/** What the write policy needs of an entity a change creates. */
type PendingEntity = Pick<Entity, 'id' | 'type' | 'attrs' | 'owner'>

/** Entities created by the envelopes of one gossip message or sync frame checked so far. */
export interface PolicyBatch { created: Map<string, PendingEntity> }

export function newPolicyBatch (): PolicyBatch {
  return { created: new Map() }
}

/** The policy's answer for an envelope: null (apply it), the reason it is refused, or what it waits for. */
export type PolicyVerdict = string | null | { waitFor: string[] }

function pendingOf (ch: Change): PendingEntity {
  const attrs: Record<string, Attribute[]> = {}
  for (const [name, , value] of ch.a ?? []) if (name === DOMAIN_RELATIONSHIP && value != null) attrs[name] = [value]
  return { id: ch.id, type: ch.t ?? [], attrs, owner: ch.o }
}

function relationshipDomain (instances: Attribute[] | undefined): string | null {
  const obj = instances?.[0]?.object
  return domainFromUrn(Array.isArray(obj) ? obj[0] : obj)
}

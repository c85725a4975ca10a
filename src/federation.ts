/**
 * The node's side of replication: what the mesh must know about entities (the write policy as
 * a check on received envelopes), forwarding of writes to the owning domain, and the state
 * digest that lets anyone check convergence from outside.
 */
import { createHash } from 'node:crypto'
import type { Logger } from 'pino'
import { stringify as stableJson } from 'safe-stable-stringify'
import { forwardProtocol, rpcHandle, rpcRequest, type Mesh } from '../mesh/index.ts'
import type { ChangeEventDetail, EntityStore, Envelope } from './ngsi/store/index.ts'
import type { Entity } from './ngsi/types.ts'
import type { WritePolicy } from './ngsi/policy.ts'
import {
  FORWARDED_BY, OwnerUnavailableError, RETURNED_HEADERS, type Federation, type ForwardedRequest, type ForwardedResponse
} from './ngsi/api/federation.ts'

/** Response header with the owner's latest sequence number after a forwarded write: `<domain>:<seq>`. */
export const ORIGIN_SEQ = 'x-cmesh-origin-seq'

/** How long a forwarding domain waits for the owner's change to arrive, so the client reads its write. */
const READ_YOUR_WRITE_MS = 2000

export interface FederationComponents {
  store: EntityStore
  mesh: Mesh
  policy: WritePolicy
  log: Logger
}

export interface FederationInit {
  federation: string
  forwardTimeoutMs: number
  /**
   * The digest's per-entity hashes are dropped when no digest was asked for this long, ms
   * (default 10 minutes): a node checked once does not keep them (13 MiB at 100,000 entities)
   * for good. The next digest then scans every entity again.
   */
  digestIdleMs?: number
  /**
   * …and when more entities changed since the last digest than it holds hashes for, and more than
   * this (default 10,000): catching up on them would cost about as much as a new scan, and the
   * ids of entities created and deleted in between would pile up.
   */
  digestDirtyMin?: number
}

/** Executes a request on this node's own API (fastify's inject). */
export type LocalDispatch = (req: ForwardedRequest & { forwardedBy: string }) => Promise<ForwardedResponse>

export class NodeFederation implements Federation {
  readonly policy: WritePolicy
  private readonly c: FederationComponents
  private readonly init: FederationInit
  private digestCache?: { version: number, value: Digest }
  private version = 0
  /** per live entity, SHA-256 of its canonical JSON (base64: a short string costs less memory than a Buffer); kept from the first digest on */
  private readonly entityHashes = new Map<string, string>()
  /** XOR of entityHashes' values */
  private readonly stateHash = Buffer.alloc(32)
  /** whether entityHashes is kept (since the first digest) */
  private hashing = false
  /** entities changed since the digest last looked (only while hashing) */
  private dirty = new Set<string>()
  private digesting?: Promise<Digest>
  private lastDigestAt = 0
  private readonly digestIdleMs: number
  private readonly digestDirtyMin: number
  private readonly onChange = (e: CustomEvent<ChangeEventDetail>): void => {
    this.version++
    if (!this.hashing) return
    this.dirty.add(e.detail.change.id)
    if (this.digesting == null && (this.dirty.size > Math.max(this.digestDirtyMin, this.entityHashes.size) || Date.now() - this.lastDigestAt > this.digestIdleMs)) this.dropHashes()
  }

  constructor (components: FederationComponents, init: FederationInit) {
    this.c = components
    this.policy = components.policy
    this.init = init
    this.digestIdleMs = init.digestIdleMs ?? 10 * 60_000
    this.digestDirtyMin = init.digestDirtyMin ?? 10_000
    components.store.events.addEventListener('change', this.onChange)
  }

  /** Serves forwarded writes: runs them on the local API as the owner. */
  async serve (dispatch: LocalDispatch): Promise<void> {
    await rpcHandle<ForwardedRequest, ForwardedResponse>(this.c.mesh.libp2p, forwardProtocol(this.init.federation), this.c.log, async (req, from) => {
      const domain = this.c.mesh.membership.domainOf(from) ?? from
      this.c.log.debug({ from: domain, method: req.method, url: req.url }, 'write forwarded to us')
      const res = await dispatch({ ...req, forwardedBy: domain })
      res.headers[ORIGIN_SEQ] = `${this.c.store.domain}:${this.c.store.lastLocalSeq()}`
      return res
    }, { timeoutMs: this.init.forwardTimeoutMs })
  }

  stop (): void {
    this.c.store.events.removeEventListener('change', this.onChange)
  }

  async forward (owner: string, request: ForwardedRequest): Promise<ForwardedResponse> {
    const peer = this.c.mesh.membership.peerOf(owner)
    const row = peer == null ? undefined : this.c.mesh.membership.table().find(m => m.peerId === peer)
    if (peer == null || row == null) throw new OwnerUnavailableError(owner, 'it has not joined the federation')
    // A suspect owner is late with its heartbeats, which a busy domain is (a large anti-entropy
    // round, a burst of writes): it still gets the request, bounded by the forward timeout. Only
    // an owner silent past the dead threshold is refused without trying.
    if (row.state === 'dead') throw new OwnerUnavailableError(owner, 'it is dead')
    let res: ForwardedResponse
    try {
      res = await rpcRequest<ForwardedRequest, ForwardedResponse>(this.c.mesh.libp2p, peer, forwardProtocol(this.init.federation), request, { signal: AbortSignal.timeout(this.init.forwardTimeoutMs) })
    } catch (err) {
      throw new OwnerUnavailableError(owner, (err as Error).message)
    }
    await this.awaitOrigin(res.headers[ORIGIN_SEQ])
    const headers: Record<string, string> = {}
    for (const h of RETURNED_HEADERS) if (res.headers[h] != null) headers[h] = res.headers[h]
    headers[FORWARDED_BY] = owner
    return { status: res.status, headers, body: res.body }
  }

  /** Waits (briefly) until the owner's change is here, so that a read right after the write sees it. */
  private async awaitOrigin (seq: string | undefined): Promise<void> {
    if (seq == null) return
    const i = seq.lastIndexOf(':')
    const origin = seq.slice(0, i)
    const n = Number(seq.slice(i + 1))
    const deadline = Date.now() + READ_YOUR_WRITE_MS
    while (!this.c.store.isVisible(origin, n) && Date.now() < deadline) await new Promise(r => setTimeout(r, 10))
  }

  /**
   * A hash of the live entities (as clients see them, canonical JSON) and the version vector. Two
   * domains with the same entity hash hold the same data. The hash is the XOR of each entity's
   * SHA-256, so that it is kept up to date entity by entity: the first call hashes every entity,
   * later ones only those changed since (a node under load answers without a full scan).
   */
  async digest (): Promise<Digest> {
    this.lastDigestAt = Date.now()
    // One at a time: each applies the changes noted since the last one.
    for (;;) {
      // The version vector also moves without entity changes (skipped numbers): always current.
      if (this.digestCache?.version === this.version) return { ...this.digestCache.value, versionVector: this.c.store.versionVector() }
      if (this.digesting == null) break
      await this.digesting.catch(() => {})
    }
    this.digesting = this.computeDigest()
    try {
      return await this.digesting
    } finally {
      this.digesting = undefined
    }
  }

  private async computeDigest (): Promise<Digest> {
    const version = this.version
    if (!this.hashing) {
      // Changes during the scan are noted and applied by the next call.
      this.hashing = true
      for await (const chunk of this.c.store.scan({})) for (const e of chunk) this.account(e.id, e)
    } else {
      const ids = this.dirty
      this.dirty = new Set()
      for (const [id, e] of await this.c.store.getMany(ids)) this.account(id, e)
      for (const id of ids) if (!this.c.store.holds(id)) this.account(id, null)
    }
    const value: Digest = {
      entities: this.entityHashes.size,
      entityHash: this.stateHash.toString('hex'),
      versionVector: this.c.store.versionVector(),
      computedAt: new Date().toISOString()
    }
    this.digestCache = { version, value }
    return value
  }

  /** Forgets the per-entity hashes (not while a digest uses them): the next digest scans again. */
  private dropHashes (): void {
    this.hashing = false
    this.entityHashes.clear()
    this.stateHash.fill(0)
    this.dirty = new Set()
  }

  /** Replaces an entity's share of the state hash (null: it is gone). */
  private account (id: string, entity: Entity | null): void {
    const hashes = this.entityHashes
    const old = hashes.get(id)
    if (old != null) xorInto(this.stateHash, Buffer.from(old, 'base64'))
    if (entity == null) {
      hashes.delete(id)
      return
    }
    // Everything that every replica derives the same way; `writer` and timestamps included.
    // Sorted keys, plain JSON numbers (entity values may be any JSON, floats included).
    const h = createHash('sha256').update(stableJson(entity) ?? '').digest()
    xorInto(this.stateHash, h)
    hashes.set(id, h.toString('base64'))
  }
}

function xorInto (acc: Buffer, b: Buffer): void {
  for (let i = 0; i < acc.length; i++) acc[i] ^= b[i]
}

export interface Digest {
  entities: number
  entityHash: string
  versionVector: Record<string, number>
  computedAt: string
}

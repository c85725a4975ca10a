/**
 * The node's side of replication: what the mesh must know about entities (the write policy as
 * a check on received envelopes), forwarding of writes to the owning domain, and the state
 * digest that lets anyone check convergence from outside.
 */
import { createHash } from 'node:crypto'
import type { Logger } from 'pino'
import { stringify as stableJson } from 'safe-stable-stringify'
import { forwardProtocol, rpcHandle, rpcRequest, type Mesh } from '../mesh/index.ts'
import type { EntityStore, Envelope } from './ngsi/store/index.ts'
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
}

/** Executes a request on this node's own API (fastify's inject). */
export type LocalDispatch = (req: ForwardedRequest & { forwardedBy: string }) => Promise<ForwardedResponse>

export class NodeFederation implements Federation {
  readonly policy: WritePolicy
  private readonly c: FederationComponents
  private readonly init: FederationInit
  private digestCache?: { version: number, value: Digest }
  private version = 0
  private readonly onChange = (): void => { this.version++ }

  constructor (components: FederationComponents, init: FederationInit) {
    this.c = components
    this.policy = components.policy
    this.init = init
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
   * A hash of the live entities (as clients see them, canonical JSON, in id order) and the
   * version vector. Two domains with the same entity hash hold the same data. Cached until the
   * next change.
   */
  async digest (): Promise<Digest> {
    // The version vector also moves without entity changes (skipped numbers): always current.
    if (this.digestCache?.version === this.version) return { ...this.digestCache.value, versionVector: this.c.store.versionVector() }
    const version = this.version
    const hash = createHash('sha256')
    let entities = 0
    for await (const chunk of this.c.store.scan({})) {
      for (const e of chunk) {
        // Everything that every replica derives the same way; `writer` and timestamps included.
        // Sorted keys, plain JSON numbers (entity values may be any JSON, floats included).
        hash.update(stableJson(e) ?? '')
        hash.update('\n')
        entities++
      }
    }
    const value: Digest = {
      entities,
      entityHash: hash.digest('hex'),
      versionVector: this.c.store.versionVector(),
      computedAt: new Date().toISOString()
    }
    this.digestCache = { version, value }
    return value
  }
}

export interface Digest {
  entities: number
  entityHash: string
  versionVector: Record<string, number>
  computedAt: string
}

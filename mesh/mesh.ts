import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { TypedEventEmitter } from 'main-event'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { CODE_P2P } from '@multiformats/multiaddr'
import type { Libp2p, PeerId, PrivateKey } from '@libp2p/interface'
import type { Logger } from 'pino'
import { createPubSub, type PubSub } from './pubsub.ts'
import { AllowlistPolicy, membersOnlyGater } from './gater.ts'
import { ConnectionKeeper } from './keeper.ts'
import { Membership } from './membership.ts'
import { Replicator, type ReplicaStore, type ReplicationPolicy } from './replication.ts'
import { CertificatePolicy } from './certificates.ts'
import { CertificateExchange } from './certificate-exchange.ts'
import { membersOnlyHandlers } from './stream-guard.ts'
import { forwardProtocol, syncProtocol } from './constants.ts'
import { NoCertificateAuthorityError, OwnCertificateError } from './errors.ts'
import { withCachedSigning, type RevocationList } from '../identity/index.ts'
import type { CertifiedPeer, LoadReport, MembershipPolicy, MeshEvents, RevocationUpdate } from './interface.ts'

export interface MeshComponents {
  privateKey: PrivateKey
  log: Logger
  /** samples this node's load for heartbeats */
  getLoad: () => LoadReport
  /** this node's API URL, read at each heartbeat (the API may bind after the mesh starts) */
  getApiUrl: () => string
  /** who may join; default: the static allowlist `members` plus this node */
  policy?: MembershipPolicy
  /** the entity store to replicate, and the rules received changes must follow */
  replica?: { store: ReplicaStore, policy: ReplicationPolicy }
}

export interface MeshInit {
  domain: string
  fqdn: string
  federation: string
  members: string[]
  listen: string[]
  /** default: the listen addresses */
  announce?: string[]
  bootstrap: string[]
  heartbeatIntervalMs: number
  suspectAfterMs: number
  deadAfterMs: number
  pingIntervalMs: number
  redialInitialMs: number
  redialMaxMs: number
  /** dial members learnt from heartbeats (default true) */
  connectToMembers?: boolean
  /** anti-entropy period, ms (default 2000) */
  syncIntervalMs?: number
  /** longest delay before local changes are gossiped, ms (default 5) */
  publishDelayMs?: number
  /** after an unclean shutdown, how long to look for own lost changes at peers, ms (default 30 000) */
  recoveryTimeoutMs?: number
  /** how long a received change waits for the entity it changes before it is judged without it, ms (default 60 000) */
  waitTimeoutMs?: number
  /** received envelopes that may wait for their entity at once (default 10 000) */
  maxWaiting?: number
  /** …and their bytes (signed JSON) at most (default 64 MiB) */
  maxWaitingBytes?: number
  /** what one anti-entropy round from a peer may bring, bytes (default and most 32 MiB) */
  syncRoundBytes?: number
  /**
   * Membership by certificate (default: none, the allowlist `members` alone decides): the
   * federation CA certificate and this domain's certificate (PEM; it must name this node's peer id
   * and `domain`). Peers presenting a domain certificate from this CA that names their peer id
   * are members too; the allowlist keeps working alongside.
   */
  certificates?: { caCertPem: string, certPem: string }
  /** with `certificates`: how long a new peer has to present its certificate, ms (default 5000) */
  certificateTimeoutMs?: number
}

export type MeshHost = Libp2p<{ pubsub: PubSub, identify: unknown, ping: unknown }>

/**
 * The mesh service: a libp2p host (TCP, Noise, Yamux, gossipsub with StrictSign) that admits only
 * federation members, keeps its bootstrap peers connected, and runs membership heartbeats.
 */
export class Mesh {
  readonly events = new TypedEventEmitter<MeshEvents>()
  readonly peerId: PeerId
  private readonly c: MeshComponents
  private readonly init: MeshInit
  private readonly policy: MembershipPolicy
  private readonly certificates?: CertificatePolicy
  private readonly log: Logger
  private host?: MeshHost
  private exchange?: CertificateExchange
  private keeper?: ConnectionKeeper
  private stopping = false
  private membershipService?: Membership
  private replicatorService?: Replicator
  private readonly onHeartbeat = (evt: MeshEvents['member:heartbeat']): void => {
    if (this.init.connectToMembers === false || this.keeper == null) return
    const { peerId, heartbeat } = evt.detail
    if (heartbeat.addrs.length > 0) this.keeper.keep({ peerId, addrs: heartbeat.addrs }, { permanent: false })
  }

  private readonly onState = (evt: MeshEvents['member:state']): void => {
    const { peerId, to } = evt.detail
    if (to === 'suspect') this.resetSilentConnection(peerId)
    if (to === 'dead') {
      this.keeper?.forget(peerId)
      this.resetSilentConnection(peerId)
    }
  }

  /**
   * A member that falls silent while still connected has lost its gossip path, not its
   * connection: with two connections between a pair (both dialled at once), gossipsub may send
   * over the one that closed and never open a stream on the other. Hanging up makes both sides
   * redial and gossipsub start afresh.
   *
   * A member busy serving us (or being served) on a request stream — an anti-entropy round of
   * many megabytes, a forwarded write — is late with its heartbeats because it is working, not
   * because its path is lost; hanging up would cut the very stream that catches us up. Then we
   * look again every heartbeat interval, as long as it stays silent (suspect or dead).
   */
  private resetSilentConnection (peerId: string): void {
    const host = this.host
    if (host == null || this.stopping) return
    const conns = host.getConnections().filter(c => c.remotePeer.toString() === peerId && c.status === 'open')
    if (conns.length === 0) return
    const busy = conns.some(c => c.streams.some(s => s.status === 'open' && isRequestProtocol(s.protocol, this.init.federation)))
    if (busy) {
      this.log.debug({ peer: peerId }, 'member silent but busy on a request stream: not reconnecting yet')
      setTimeout(() => {
        const state = this.membershipService?.table().find(m => m.peerId === peerId)?.state
        if (state === 'suspect' || state === 'dead') this.resetSilentConnection(peerId)
      }, this.init.heartbeatIntervalMs).unref()
      return
    }
    this.log.warn({ peer: peerId, connections: conns.length }, 'member silent on an open connection: reconnecting')
    void host.hangUp(conns[0].remotePeer).catch(() => {})
  }

  constructor (components: MeshComponents, init: MeshInit) {
    this.c = components
    this.init = init
    this.peerId = peerIdFromPrivateKey(components.privateKey)
    this.log = components.log.child({ component: 'mesh' })
    const base = components.policy ?? new AllowlistPolicy(this.peerId, init.members)
    if (init.certificates != null) {
      this.certificates = new CertificatePolicy({
        base,
        onCertified: (peer) => {
          this.membershipService?.certify(peer.domain, peer.peerId)
          this.events.safeDispatchEvent('peer:certified', { detail: peer })
        }
      }, { self: this.peerId.toString(), ...init.certificates })
      // Our heartbeats say `domain`; peers would reject them if the certificate named another.
      if (this.certificates.own.domain !== init.domain) {
        throw new OwnCertificateError(`it names domain ${this.certificates.own.domain}, this node is ${init.domain}`)
      }
    }
    this.policy = this.certificates ?? base
  }

  get libp2p (): MeshHost {
    if (this.host == null) throw new Error('mesh not started')
    return this.host
  }

  get membership (): Membership {
    if (this.membershipService == null) throw new Error('mesh not started')
    return this.membershipService
  }

  /** Replication of entity changes, when a store was given. */
  get replicator (): Replicator | undefined {
    return this.replicatorService
  }

  get started (): boolean {
    return this.host != null
  }

  /** The addresses this node listens on, each ending in /p2p/<peer id>. */
  multiaddrs (): string[] {
    return this.host?.getMultiaddrs().map(ma => ma.toString()) ?? []
  }

  async start (): Promise<void> {
    const log = this.log
    let membership: Membership | undefined
    const certificates = this.certificates
    const host = await createLibp2p({
      // Started below, once the certificate exchange watches connections: none may slip past it.
      start: false,
      privateKey: withCachedSigning(this.c.privateKey),
      addresses: {
        listen: this.init.listen,
        announce: this.init.announce != null && this.init.announce.length > 0 ? this.init.announce : undefined
      },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionGater: membersOnlyGater(this.policy, (peer, reason) => { membership?.countRefused(peer.toString(), reason) }),
      // The connection monitor pings every open connection; its round-trip time is what the
      // membership table shows. It does not close connections: on a busy one (a catch-up streaming
      // 8 MiB frames on a loaded machine) a ping can outlast its adaptive timeout or overlap the
      // next one (one ping stream per connection), and closing cut the sync stream mid-frame.
      // A member that really stops answering goes silent and membership reconnects it
      // (resetSilentConnection), unless it is busy on a request stream with us.
      connectionMonitor: { enabled: true, pingInterval: this.init.pingIntervalMs, abortConnectionOnPingFailure: false },
      services: {
        identify: identify(),
        ping: ping(),
        pubsub: createPubSub({ isMember: (peer) => this.policy.isMember(peer) })
      }
    }) as unknown as MeshHost
    this.host = host
    membership = new Membership({
      libp2p: host,
      pubsub: host.services.pubsub,
      policy: this.policy,
      log: this.c.log.child({ component: 'mesh:membership' }),
      events: this.events,
      getLoad: this.c.getLoad,
      getSelf: () => ({
        domain: this.init.domain,
        fqdn: this.init.fqdn,
        apiUrl: this.c.getApiUrl(),
        addrs: host.getMultiaddrs().map(ma => ma.decapsulateCode(CODE_P2P).toString()),
        vv: this.c.replica?.store.versionVector(),
        cert: certificates?.certPem
      }),
      verifyCertificate: certificates == null
        ? undefined
        : (peerId, certPem) => {
            const check = certificates.verify(peerId, certPem, 'heartbeat')
            return check.ok ? { ok: true } : { ok: false, reason: check.reason }
          }
    }, this.init)
    this.membershipService = membership
    if (certificates != null) {
      // Certificates verified before a restart still bind their domains.
      for (const p of certificates.certifiedPeers()) if (!p.revoked) membership.certify(p.domain, p.peerId)
      this.exchange = new CertificateExchange({
        libp2p: host,
        policy: certificates,
        log: this.c.log.child({ component: 'mesh:certificates' }),
        onRefused: (peer, reason) => { membership?.countRefused(peer, reason) }
      }, { federation: this.init.federation, timeoutMs: this.init.certificateTimeoutMs })
      await this.exchange.start()
    }
    await host.start()
    // From here on, protocols (sync, forwarding) serve members only; see stream-guard.ts.
    membersOnlyHandlers(host, this.policy, log)
    this.keeper = new ConnectionKeeper({ libp2p: host, log: this.c.log.child({ component: 'mesh:keeper' }) }, {
      initialDelayMs: this.init.redialInitialMs,
      maxDelayMs: this.init.redialMaxMs
    })
    for (const addr of this.init.bootstrap) this.keeper.keep(addr, { permanent: true })
    this.events.addEventListener('member:heartbeat', this.onHeartbeat)
    this.events.addEventListener('member:state', this.onState)
    membership.start()
    if (this.c.replica != null) {
      this.replicatorService = new Replicator({
        libp2p: host,
        pubsub: host.services.pubsub,
        membership,
        members: this.policy,
        store: this.c.replica.store,
        policy: this.c.replica.policy,
        log: this.c.log.child({ component: 'mesh:replication' })
      }, { federation: this.init.federation, syncIntervalMs: this.init.syncIntervalMs, publishDelayMs: this.init.publishDelayMs, recoveryTimeoutMs: this.init.recoveryTimeoutMs, waitTimeoutMs: this.init.waitTimeoutMs, maxWaiting: this.init.maxWaiting, maxWaitingBytes: this.init.maxWaitingBytes, syncRoundBytes: this.init.syncRoundBytes })
      await this.replicatorService.start()
    }
    this.keeper.start()
    log.info({
      peerId: this.peerId.toString(),
      listen: this.multiaddrs(),
      ...(certificates != null ? { certificate: { domain: certificates.own.domain, serial: certificates.own.serial } } : {})
    }, 'mesh started')
  }

  async stop (): Promise<void> {
    this.stopping = true
    this.events.removeEventListener('member:heartbeat', this.onHeartbeat)
    this.events.removeEventListener('member:state', this.onState)
    this.keeper?.stop()
    await this.exchange?.stop()
    this.exchange = undefined
    await this.replicatorService?.stop()
    this.membershipService?.stop()
    await this.host?.stop()
    this.host = undefined
  }

  /**
   * Puts a revocation list (as identity's `createRevocationList` makes it, e.g. from a replicated
   * entity) in force when it verifies against the CA and is newer than the current one: peers
   * whose certificate it revokes are disconnected at once and refused afterwards, allowlisted or
   * not. Peers that are members by the allowlist alone (never presented a certificate) are not
   * affected. Works before `start` too.
   * @throws NoCertificateAuthorityError (MESH_NO_CA) without `certificates`
   * @throws RevocationListInvalidError (IDENTITY_REVOCATION_LIST_INVALID) for a forged, foreign or malformed list
   */
  setRevocationList (doc: unknown): RevocationUpdate {
    if (this.certificates == null) throw new NoCertificateAuthorityError()
    const update = this.certificates.setRevocationList(doc)
    if (!update.applied) return update
    this.log.info({ sequence: update.sequence, revokedPeers: update.revokedPeers }, 'revocation list in force')
    if (this.certificates.ownRevoked()) {
      this.log.error({ serial: this.certificates.own.serial }, 'this domain\'s own certificate is revoked: other domains will refuse it')
    }
    this.exchange?.enforce()
    return update
  }

  /** The revocation list in force, or null (none yet, or no CA). */
  revocationList (): RevocationList | null {
    return this.certificates?.revocationList() ?? null
  }

  /** The domain and certificate a peer proved (revoked ones flagged), or null if it never presented a valid one. */
  certificateOf (peerId: PeerId | string): CertifiedPeer | null {
    return this.certificates?.certificateOf(peerId.toString()) ?? null
  }

  /** Every peer that proved membership by certificate. */
  certifiedPeers (): CertifiedPeer[] {
    return this.certificates?.certifiedPeers() ?? []
  }

  /** Dial state of the peers this node keeps connected (bootstrap and discovered). */
  dialStatus (): ReturnType<ConnectionKeeper['status']> {
    return this.keeper?.status() ?? []
  }
}

/** Our request/response protocols: a stream open on one of them means the peer is at work with us. */
function isRequestProtocol (protocol: string | undefined, federation: string): boolean {
  return protocol === syncProtocol(federation) || protocol === forwardProtocol(federation)
}

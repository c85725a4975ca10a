import { TypedEventEmitter } from 'main-event'
import { Ajv } from 'ajv'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Logger } from 'pino'
import {
  CERT_IN_FIRST_HEARTBEATS, CERT_IN_HEARTBEAT_EVERY, MAX_CERT_PEM_CHARS, membershipTopic, MAX_HEARTBEAT_BYTES, STATE_SWEEP_MS
} from './constants.ts'
import { TopicValidatorResult, type PubSub, type PubSubMessage } from './pubsub.ts'
import type {
  Heartbeat, LoadReport, MemberInfo, MemberState, MembershipPolicy, MeshEvents, StrangerInfo
} from './interface.ts'

export interface MembershipComponents {
  libp2p: Libp2p
  pubsub: PubSub
  policy: MembershipPolicy
  log: Logger
  events: TypedEventEmitter<MeshEvents>
  /** the node's current load, sampled by the caller */
  getLoad: () => LoadReport
  /** what this node says about itself in heartbeats (`cert`: its domain certificate, PEM) */
  getSelf: () => { domain: string, fqdn: string, apiUrl: string, addrs: string[], vv?: Record<string, number>, cert?: string }
  /**
   * With a federation CA: checks the certificate a heartbeat of a not-yet-member carries (and,
   * when valid, makes the author a member, see `certify`). Without it, only `policy` decides.
   */
  verifyCertificate?: (peerId: string, certPem: string) => { ok: true } | { ok: false, reason: string }
}

export interface MembershipInit {
  federation: string
  /** static members to list even before they were heard from */
  members: string[]
  heartbeatIntervalMs: number
  suspectAfterMs: number
  deadAfterMs: number
}

interface Row {
  peerId: string
  id: PeerId
  heartbeat: Heartbeat | null
  lastSeenAt: number | null
  /** when other traffic from it (replication) last proved it alive */
  activityAt: number | null
  state: MemberState | 'unknown'
  stateSince: number
  heartbeats: number
  rejects: number
}

const heartbeatSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['v', 'domain', 'fqdn', 'addrs', 'load', 'seq', 'startedAt', 'sentAt'],
  properties: {
    v: { const: 1 },
    domain: { type: 'string', minLength: 1, maxLength: 63 },
    fqdn: { type: 'string', minLength: 1, maxLength: 253 },
    apiUrl: { type: 'string', minLength: 1, maxLength: 2048 },
    addrs: { type: 'array', maxItems: 32, items: { type: 'string', maxLength: 256 } },
    load: {
      type: 'object',
      additionalProperties: false,
      required: ['cpu', 'memory', 'rssBytes', 'eventLoopLagMs'],
      properties: {
        cpu: { type: 'number', minimum: 0, maximum: 1 },
        memory: { type: 'number', minimum: 0, maximum: 1 },
        rssBytes: { type: 'number', minimum: 0 },
        eventLoopLagMs: { type: 'number', minimum: 0 }
      }
    },
    seq: { type: 'integer', minimum: 0 },
    vv: { type: 'object', maxProperties: 1024, additionalProperties: { type: 'integer', minimum: 0 } },
    startedAt: { type: 'number', minimum: 0 },
    sentAt: { type: 'number', minimum: 0 },
    cert: { type: 'string', minLength: 1, maxLength: MAX_CERT_PEM_CHARS }
  }
} as const

/** Checks a heartbeat body against its schema (exported for tests). */
export const validateHeartbeat = new Ajv({ strict: true }).compile<Heartbeat>(heartbeatSchema)

/**
 * Membership: publishes this node's signed heartbeat on the federation topic every interval and
 * keeps a table of members marked alive, suspect or dead by how long ago their last heartbeat
 * arrived. Heartbeats are validated before gossipsub forwards them; rejects (non-members,
 * malformed bodies) are counted per author.
 */
export class Membership {
  private readonly c: MembershipComponents
  private readonly init: MembershipInit
  private readonly topic: string
  private readonly rows = new Map<string, Row>()
  private readonly strangers = new Map<string, StrangerInfo>()
  /** domain name → the peer that first claimed it (trust on first use), or its certificate names */
  private readonly bindings = new Map<string, string>()
  /** peer → the domain its certificate names: such a peer speaks for that domain only */
  private readonly certified = new Map<string, string>()
  private readonly selfId: string
  private readonly startedAt = Date.now()
  private seq = 0
  private publishTimer?: NodeJS.Timeout
  private sweepTimer?: NodeJS.Timeout
  private readonly onMessage = (evt: CustomEvent<PubSubMessage>): void => { this.handleMessage(evt.detail) }

  constructor (components: MembershipComponents, init: MembershipInit) {
    this.c = components
    this.init = init
    this.topic = membershipTopic(init.federation)
    this.selfId = components.libp2p.peerId.toString()
    for (const m of init.members) if (m !== this.selfId) this.row(m)
  }

  start (): void {
    this.c.pubsub.topicValidators.set(this.topic, (from, msg) => this.validate(from, msg))
    this.c.pubsub.addEventListener('message', this.onMessage)
    this.c.pubsub.subscribe(this.topic)
    this.publishTimer = setInterval(() => { void this.publish() }, this.init.heartbeatIntervalMs)
    this.sweepTimer = setInterval(() => { this.sweep() }, Math.min(STATE_SWEEP_MS, this.init.heartbeatIntervalMs))
    void this.publish()
  }

  stop (): void {
    clearInterval(this.publishTimer)
    clearInterval(this.sweepTimer)
    this.c.pubsub.removeEventListener('message', this.onMessage)
    this.c.pubsub.topicValidators.delete(this.topic)
    try { this.c.pubsub.unsubscribe(this.topic) } catch { /* pubsub already stopped */ }
  }

  /**
   * Other gossip from a member (an entity message it wrote or relayed, accepted) proves it alive,
   * and its gossip path to us intact, as well as a heartbeat does. Heartbeats share the member's
   * event loop with its work, so a member busy writing sends them late: without this, it looks
   * suspect while its changes keep arriving. Only members we have had a heartbeat from count
   * (their domain, address and load come from heartbeats).
   */
  noteActivity (peerId: string): void {
    const r = this.rows.get(peerId)
    if (r == null || r.lastSeenAt == null) return
    r.activityAt = Date.now()
  }

  /** The membership table: this node first, then the others by domain name. */
  table (): MemberInfo[] {
    const now = Date.now()
    const self = this.c.getSelf()
    const selfRow: MemberInfo = {
      peerId: this.selfId,
      self: true,
      state: 'alive',
      domain: self.domain,
      fqdn: self.fqdn,
      apiUrl: self.apiUrl,
      addrs: self.addrs,
      load: this.c.getLoad(),
      lastSeen: new Date(now).toISOString(),
      stateSince: new Date(this.startedAt).toISOString(),
      heartbeats: this.seq,
      rttMs: 0,
      connected: true,
      rejects: 0
    }
    const others = [...this.rows.values()]
      .map(r => this.info(r, now))
      .sort((a, b) => (a.domain ?? '~' + a.peerId).localeCompare(b.domain ?? '~' + b.peerId))
    return [selfRow, ...others]
  }

  /** Peers outside the federation that tried to connect or publish. */
  listStrangers (): StrangerInfo[] {
    return [...this.strangers.values()]
  }

  /** Members (other than this node) whose heartbeats are current. */
  alivePeers (): MemberInfo[] {
    return this.table().filter(m => !m.self && m.state === 'alive')
  }

  /** The domain name a member peer's certificate names, or else the one it announced in its heartbeats, or null. */
  domainOf (peerId: string): string | null {
    const certified = this.certified.get(peerId)
    if (certified != null) return certified
    for (const [domain, peer] of this.bindings) if (peer === peerId) return domain
    return null
  }

  /** The peer bound to a domain name, or null. */
  peerOf (domain: string): string | null {
    return this.bindings.get(domain) ?? null
  }

  /**
   * Binds a domain name to a peer on first use; false if the name is already another peer's.
   * Replication calls this for the origins of envelopes it accepts.
   */
  bind (domain: string, peerId: string): boolean {
    const certified = this.certified.get(peerId)
    if (certified != null && certified !== domain) return false
    const bound = this.bindings.get(domain)
    if (bound == null) { this.bindings.set(domain, peerId); return true }
    return bound === peerId
  }

  /**
   * Binds a domain name to the peer whose certificate names it, replacing any binding by first use
   * (of this name to another peer, or of other names to this peer): from now on only this peer's
   * heartbeats and envelopes may speak for the domain, and this peer for no other.
   */
  certify (domain: string, peerId: string): void {
    const previous = this.bindings.get(domain)
    if (previous != null && previous !== peerId) {
      this.c.log.warn({ domain, peer: peerId, previous }, 'certificate rebinds a domain name that another peer claimed')
    }
    for (const [name, peer] of this.bindings) if (peer === peerId && name !== domain) this.bindings.delete(name)
    this.bindings.set(domain, peerId)
    this.certified.set(peerId, domain)
  }

  /** The version vector a member announced in its last heartbeat (for replication lag). */
  versionVectorOf (peerId: string): Record<string, number> | null {
    return this.rows.get(peerId)?.heartbeat?.vv ?? null
  }

  /** Records a gossip message we rejected; exposed so other topics' validators count here too. */
  countReject (peerId: string, topic: string, reason: string): void {
    if (this.c.policy.isMember(peerId) && peerId !== this.selfId) {
      this.row(peerId).rejects++
    } else {
      this.stranger(peerId).rejects++
    }
    this.c.log.warn({ peer: peerId, topic, reason }, 'gossip message rejected')
    this.c.events.safeDispatchEvent('gossip:reject', { detail: { peerId, topic, reason } })
  }

  /** Records a connection refused by the gater, or dropped because the peer did not prove membership. */
  countRefused (peerId: string, reason = 'not a federation member'): void {
    const s = this.stranger(peerId)
    s.refusedConnections++
    const changed = s.lastReason !== reason
    s.lastReason = reason
    // The first refusal, then every power of ten (or when the reason changes): a peer that keeps
    // knocking must not flood the log.
    if (changed || Number.isInteger(Math.log10(s.refusedConnections))) {
      this.c.log.warn({ peer: peerId, times: s.refusedConnections, reason }, 'refused a connection from a peer outside the federation')
    }
    this.c.events.safeDispatchEvent('peer:refused', { detail: { peerId, reason } })
  }

  private stranger (peerId: string): StrangerInfo {
    let s = this.strangers.get(peerId)
    if (s == null) {
      s = { peerId, refusedConnections: 0, rejects: 0, lastSeen: new Date().toISOString() }
      this.strangers.set(peerId, s)
    }
    s.lastSeen = new Date().toISOString()
    return s
  }

  private row (peerId: string): Row {
    let r = this.rows.get(peerId)
    if (r == null) {
      r = { peerId, id: peerIdFromString(peerId), heartbeat: null, lastSeenAt: null, activityAt: null, state: 'unknown', stateSince: Date.now(), heartbeats: 0, rejects: 0 }
      this.rows.set(peerId, r)
    }
    return r
  }

  private stateOf (r: Row, now: number): MemberState {
    if (r.lastSeenAt == null) return 'dead'
    const age = now - Math.max(r.lastSeenAt, r.activityAt ?? 0)
    if (age < this.init.suspectAfterMs) return 'alive'
    if (age < this.init.deadAfterMs) return 'suspect'
    return 'dead'
  }

  private info (r: Row, now: number): MemberInfo {
    const conns = this.c.libp2p.getConnections(r.id).filter(c => c.status === 'open')
    const rtt = conns.map(c => c.rtt).find(v => v != null)
    return {
      peerId: r.peerId,
      self: false,
      state: this.stateOf(r, now),
      domain: r.heartbeat?.domain ?? null,
      fqdn: r.heartbeat?.fqdn ?? null,
      apiUrl: r.heartbeat?.apiUrl ?? null,
      addrs: r.heartbeat?.addrs ?? [],
      load: r.heartbeat?.load ?? null,
      lastSeen: r.lastSeenAt == null ? null : new Date(r.lastSeenAt).toISOString(),
      stateSince: new Date(r.stateSince).toISOString(),
      heartbeats: r.heartbeats,
      rttMs: rtt ?? null,
      connected: conns.length > 0,
      rejects: r.rejects
    }
  }

  private sweep (): void {
    const now = Date.now()
    for (const r of this.rows.values()) this.transition(r, this.stateOf(r, now), now)
  }

  private transition (r: Row, to: MemberState, now: number): void {
    if (r.state === to) return
    // A member we never heard from stays 'unknown' rather than "becoming dead" at start.
    if (r.state === 'unknown' && to === 'dead') return
    const from = r.state
    r.state = to
    r.stateSince = now
    const domain = r.heartbeat?.domain ?? null
    const level = to === 'alive' ? 'info' : 'warn'
    this.c.log[level]({ peer: r.peerId, domain, from, to }, `member ${domain ?? r.peerId} is ${to}`)
    this.c.events.safeDispatchEvent('member:state', { detail: { peerId: r.peerId, domain, from, to } })
  }

  private validate (_propagationSource: PeerId, msg: PubSubMessage): TopicValidatorResult {
    // StrictSign: gossipsub has already checked the signature, so `from` is the real author.
    if (msg.type !== 'signed') {
      this.countReject(_propagationSource.toString(), this.topic, 'unsigned message')
      return TopicValidatorResult.Reject
    }
    const author = msg.from.toString()
    if (author === this.selfId) return TopicValidatorResult.Ignore
    const member = this.c.policy.isMember(msg.from)
    if (!member && this.c.verifyCertificate == null) {
      this.countReject(author, this.topic, 'author is not a federation member')
      return TopicValidatorResult.Reject
    }
    if (msg.data.byteLength > MAX_HEARTBEAT_BYTES) {
      this.countReject(author, this.topic, `heartbeat of ${msg.data.byteLength} bytes exceeds ${MAX_HEARTBEAT_BYTES}`)
      return TopicValidatorResult.Reject
    }
    let hb: unknown
    try {
      hb = JSON.parse(new TextDecoder().decode(msg.data))
    } catch {
      this.countReject(author, this.topic, 'heartbeat is not JSON')
      return TopicValidatorResult.Reject
    }
    if (!validateHeartbeat(hb)) {
      const e = validateHeartbeat.errors?.[0]
      this.countReject(author, this.topic, `malformed heartbeat: ${e?.instancePath ?? ''} ${e?.message ?? ''}`.trim())
      return TopicValidatorResult.Reject
    }
    if (!member && this.c.verifyCertificate != null) {
      if (hb.cert == null) {
        // A member we have not learnt of yet looks the same until a heartbeat with its certificate
        // comes by; ignoring (not rejecting) does not penalise the member that relayed it.
        return TopicValidatorResult.Ignore
      }
      // StrictSign binds the certificate to the author: it cannot be replayed by another peer.
      const check = this.c.verifyCertificate(author, hb.cert)
      if (!check.ok) {
        this.countReject(author, this.topic, check.reason)
        return TopicValidatorResult.Reject
      }
    }
    const certified = this.certified.get(author)
    if (certified != null && hb.domain !== certified) {
      this.countReject(author, this.topic, `claims domain name ${hb.domain}, but its certificate names ${certified}`)
      return TopicValidatorResult.Reject
    }
    if (hb.domain === this.c.getSelf().domain || !this.bind(hb.domain, author)) {
      this.countReject(author, this.topic, `claims domain name ${hb.domain}, which belongs to another peer`)
      return TopicValidatorResult.Reject
    }
    const prev = this.rows.get(author)?.heartbeat
    if (prev != null && (hb.startedAt < prev.startedAt || (hb.startedAt === prev.startedAt && hb.seq <= prev.seq))) {
      // An old heartbeat arriving late (or replayed): harmless, but not news.
      return TopicValidatorResult.Ignore
    }
    return TopicValidatorResult.Accept
  }

  private handleMessage (msg: PubSubMessage): void {
    if (msg.topic !== this.topic || msg.type !== 'signed') return
    const author = msg.from.toString()
    let hb: Heartbeat
    try { hb = JSON.parse(new TextDecoder().decode(msg.data)) } catch { return }
    // The validator has checked the certificate; the table need not keep a copy of every one.
    delete hb.cert
    const r = this.row(author)
    const now = Date.now()
    r.heartbeat = hb
    r.lastSeenAt = now
    r.heartbeats++
    this.transition(r, 'alive', now)
    this.c.events.safeDispatchEvent('member:heartbeat', { detail: { peerId: author, heartbeat: hb } })
  }

  private async publish (): Promise<void> {
    const self = this.c.getSelf()
    const seq = ++this.seq
    const withCert = self.cert != null && (seq <= CERT_IN_FIRST_HEARTBEATS || seq % CERT_IN_HEARTBEAT_EVERY === 0)
    const hb: Heartbeat = {
      v: 1,
      domain: self.domain,
      fqdn: self.fqdn,
      ...(self.apiUrl !== '' ? { apiUrl: self.apiUrl } : {}),
      addrs: self.addrs,
      load: this.c.getLoad(),
      seq,
      ...(self.vv != null ? { vv: self.vv } : {}),
      startedAt: this.startedAt,
      sentAt: Date.now(),
      ...(withCert ? { cert: self.cert } : {})
    }
    try {
      await this.c.pubsub.publish(this.topic, new TextEncoder().encode(JSON.stringify(hb)))
    } catch (err) {
      this.c.log.debug({ err }, 'heartbeat publish failed')
    }
  }
}

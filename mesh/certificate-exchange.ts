import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface'
import type { Logger } from 'pino'
import { CERT_EXCHANGE_TIMEOUT_MS, CERT_SWEEP_MS, certificateProtocol, MAX_CERT_FRAME_BYTES } from './constants.ts'
import { CertificateRefusedError } from './errors.ts'
import { JsonFrames } from './framing.ts'
import type { CertificateCheck, CertificatePolicy } from './certificates.ts'

export interface CertificateExchangeComponents {
  libp2p: Libp2p
  policy: CertificatePolicy
  log: Logger
  /** records a peer we disconnected, and why (the membership's table of strangers) */
  onRefused: (peerId: string, reason: string) => void
}

export interface CertificateExchangeInit {
  federation: string
  /** how long a new peer that is not yet a member has to present its certificate, ms (default CERT_EXCHANGE_TIMEOUT_MS) */
  timeoutMs?: number
  /** how often open connections are re-checked (expired certificates), ms (default CERT_SWEEP_MS) */
  sweepMs?: number
}

/** The one message each side sends: its certificate, or (the answering side) why it refused the caller's. */
interface CertificateMessage {
  v: 1
  cert?: string
  error?: { code: string, message: string }
}

/**
 * The certificate exchange: on every new connection the dialling side opens one stream, sends its
 * domain certificate and gets the other side's back; each side checks the other's against the
 * federation CA and against the connection's remote peer id (proven by the Noise handshake).
 *
 * A peer that is not already a member (allowlisted, or certified before) gets `timeoutMs` to prove
 * itself; it is disconnected, counted as refused with the reason, and refused by the gater for a
 * cooldown when it presents a bad, foreign, revoked or someone else's certificate, or none in time.
 * A member by allowlist that presents an unusable certificate stays connected (with a warning):
 * the allowlist is the operator's explicit word, except against a revoked certificate.
 */
export class CertificateExchange {
  private readonly c: CertificateExchangeComponents
  private readonly protocol: string
  private readonly timeoutMs: number
  private readonly sweepMs: number
  /** connections still inside their time to present a certificate: id → timer */
  private readonly deadlines = new Map<string, NodeJS.Timeout>()
  private controller = new AbortController()
  private sweepTimer?: NodeJS.Timeout
  private readonly onOpen = (evt: CustomEvent<Connection>): void => { this.onConnection(evt.detail) }
  private readonly onClose = (evt: CustomEvent<Connection>): void => { this.clearDeadline(evt.detail.id) }

  constructor (components: CertificateExchangeComponents, init: CertificateExchangeInit) {
    this.c = components
    this.protocol = certificateProtocol(init.federation)
    this.timeoutMs = init.timeoutMs ?? CERT_EXCHANGE_TIMEOUT_MS
    this.sweepMs = init.sweepMs ?? CERT_SWEEP_MS
  }

  /** Registers the protocol and watches connections; call before libp2p starts listening, so none is missed. */
  async start (): Promise<void> {
    this.controller = new AbortController()
    await this.c.libp2p.handle(this.protocol, (stream, connection) => { void this.serve(stream, connection) }, {
      // One exchange per connection (two if both sides dial at once); more is abuse.
      maxInboundStreams: 2,
      maxOutboundStreams: 2
    })
    this.c.libp2p.addEventListener('connection:open', this.onOpen)
    this.c.libp2p.addEventListener('connection:close', this.onClose)
    this.sweepTimer = setInterval(() => { this.enforce() }, this.sweepMs)
    this.sweepTimer.unref()
    for (const conn of this.c.libp2p.getConnections()) this.onConnection(conn)
  }

  async stop (): Promise<void> {
    this.controller.abort()
    clearInterval(this.sweepTimer)
    this.c.libp2p.removeEventListener('connection:open', this.onOpen)
    this.c.libp2p.removeEventListener('connection:close', this.onClose)
    for (const timer of this.deadlines.values()) clearTimeout(timer)
    this.deadlines.clear()
    await this.c.libp2p.unhandle(this.protocol).catch(() => {})
  }

  /**
   * Disconnects every connected peer that is no longer a member (revoked or expired certificate),
   * except those still within their time to present one. Returns the peers it disconnected.
   */
  enforce (): string[] {
    const dropped = new Set<string>()
    for (const conn of this.c.libp2p.getConnections()) {
      const peer = conn.remotePeer.toString()
      if (dropped.has(peer) || this.c.policy.isMember(peer)) continue
      const refusal = this.c.policy.connectionRefusal(peer)
      if (refusal == null && this.deadlines.has(conn.id)) continue
      dropped.add(peer)
      this.refuse(conn.remotePeer, refusal ?? this.c.policy.nonMemberReason(peer) ?? 'not a federation member')
    }
    return [...dropped]
  }

  private onConnection (conn: Connection): void {
    if (conn.status !== 'open') return
    if (!this.c.policy.isMember(conn.remotePeer)) this.armDeadline(conn)
    // Only the dialling side asks, so one connection carries one exchange.
    if (conn.direction === 'outbound') void this.request(conn)
  }

  private armDeadline (conn: Connection): void {
    const timer = setTimeout(() => {
      this.deadlines.delete(conn.id)
      if (conn.status !== 'open' || this.c.policy.isMember(conn.remotePeer)) return
      this.refuse(conn.remotePeer, `no certificate presented within ${this.timeoutMs} ms`)
    }, this.timeoutMs)
    timer.unref()
    this.deadlines.set(conn.id, timer)
  }

  private clearDeadline (connId: string): void {
    clearTimeout(this.deadlines.get(connId))
    this.deadlines.delete(connId)
  }

  /** Dialling side: send our certificate, check the one that comes back. */
  private async request (conn: Connection): Promise<void> {
    const peer = conn.remotePeer.toString()
    const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(this.timeoutMs)])
    let frames: JsonFrames | undefined
    let answer: CertificateMessage
    try {
      const stream = await conn.newStream(this.protocol, { signal })
      frames = new JsonFrames(stream, MAX_CERT_FRAME_BYTES)
      await frames.write({ v: 1, cert: this.c.policy.certPem } satisfies CertificateMessage, signal)
      answer = (await frames.read<CertificateMessage>(signal)).message
      await frames.close(signal).catch(() => {})
    } catch (err) {
      frames?.abort(err as Error)
      this.exchangeFailed(conn, err as Error)
      return
    }
    if (answer?.error != null) {
      // It refused our certificate and is hanging up; nothing for us to add.
      this.c.log.warn({ peer, reason: String(answer.error.message) }, 'peer refused our certificate')
      return
    }
    this.settle(conn.remotePeer, this.c.policy.verify(peer, answer?.cert, 'connection'))
  }

  /** Answering side: check the caller's certificate, answer with ours or with the reason we refuse it. */
  private async serve (stream: Stream, conn: Connection): Promise<void> {
    const peer = conn.remotePeer.toString()
    const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(this.timeoutMs)])
    const frames = new JsonFrames(stream, MAX_CERT_FRAME_BYTES)
    let check: CertificateCheck
    try {
      const { message } = await frames.read<CertificateMessage>(signal)
      check = this.c.policy.verify(peer, message?.cert, 'connection')
      const answer: CertificateMessage = check.ok
        ? { v: 1, cert: this.c.policy.certPem }
        : { v: 1, error: { code: 'MESH_CERTIFICATE_REFUSED', message: check.reason } }
      await frames.write(answer, signal)
      // Let the answer reach the peer before a refusal hangs up on it.
      await frames.close(AbortSignal.any([signal, AbortSignal.timeout(1000)])).catch(() => {})
    } catch (err) {
      frames.abort(err as Error)
      this.exchangeFailed(conn, err as Error)
      return
    }
    this.settle(conn.remotePeer, check)
  }

  private exchangeFailed (conn: Connection, err: Error): void {
    if (this.controller.signal.aborted || conn.status !== 'open') return
    if (this.c.policy.isMember(conn.remotePeer)) {
      // e.g. an allowlisted node without a CA configured, which does not speak the protocol
      this.c.log.debug({ peer: conn.remotePeer.toString(), err: err.message }, 'certificate exchange with a member failed')
      return
    }
    this.refuse(conn.remotePeer, `certificate exchange failed: ${err.message}`)
  }

  private settle (peerId: PeerId, check: CertificateCheck): void {
    const peer = peerId.toString()
    if (check.ok) {
      for (const conn of this.c.libp2p.getConnections(peerId)) this.clearDeadline(conn.id)
      if (check.changed) this.c.log.info({ peer, domain: check.peer.domain, serial: check.peer.serial }, 'peer proved membership by certificate')
      return
    }
    if (this.c.policy.isMember(peerId)) {
      this.c.log.warn({ peer, reason: check.reason }, 'a member (by allowlist or an earlier certificate) presented an unusable certificate; it stays a member')
      return
    }
    this.refuse(peerId, check.reason)
  }

  /** Disconnects a peer that failed to prove membership, counts it, and has the gater refuse it for a while. */
  private refuse (peerId: PeerId, reason: string): void {
    const peer = peerId.toString()
    // While a refusal is in force the gater admits no new connection, so a connection failing now
    // predates it (simultaneous dials): the same refusal, not another one.
    if (!this.c.policy.isRefused(peer)) {
      this.c.policy.refuseFor(peer, reason)
      this.c.log.warn({ peer, reason }, 'disconnected a peer that did not prove membership')
      this.c.onRefused(peer, reason)
    }
    const err = new CertificateRefusedError(peer, reason)
    for (const conn of this.c.libp2p.getConnections(peerId)) {
      this.clearDeadline(conn.id)
      conn.abort(err)
    }
  }
}

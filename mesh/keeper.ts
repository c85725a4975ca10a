import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Logger } from 'pino'
import { DIAL_TIMEOUT_MS, REDIAL_JITTER } from './constants.ts'
import { describeError } from './errors.ts'

export interface ConnectionKeeperComponents {
  libp2p: Libp2p
  log: Logger
}

export interface ConnectionKeeperInit {
  /** first redial delay, ms (default 250) */
  initialDelayMs?: number
  /** longest redial delay, ms (default 30 000) */
  maxDelayMs?: number
  /** one dial's time limit, ms (default DIAL_TIMEOUT_MS) */
  dialTimeoutMs?: number
}

interface Target {
  peerId: PeerId
  addrs: Multiaddr[]
  /** bootstrap peers are kept for ever; discovered members only while they are alive */
  permanent: boolean
  failures: number
  timer?: NodeJS.Timeout
  dialing: boolean
  lastError: string | null
  nextDialAt: number | null
}

export interface KeeperStatus {
  peerId: string
  permanent: boolean
  connected: boolean
  failures: number
  lastError: string | null
  nextDialAt: string | null
}

/**
 * Keeps connections open to a set of peers: dials each at start, and again with exponential
 * backoff (plus jitter) while it is unreachable, and at once when an open connection drops.
 * libp2p's own bootstrap module dials only once; an operator expects a domain that was down to
 * rejoin by itself.
 */
export class ConnectionKeeper {
  private readonly libp2p: Libp2p
  private readonly log: Logger
  private readonly initialDelayMs: number
  private readonly maxDelayMs: number
  private readonly dialTimeoutMs: number
  private readonly targets = new Map<string, Target>()
  private running = false
  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => {
    const target = this.targets.get(evt.detail.toString())
    if (target == null || !this.running) return
    this.log.info({ peer: evt.detail.toString() }, 'connection to kept peer dropped, redialling')
    target.failures = 0
    this.schedule(target, this.initialDelayMs)
  }

  constructor (components: ConnectionKeeperComponents, init: ConnectionKeeperInit = {}) {
    this.libp2p = components.libp2p
    this.log = components.log
    this.initialDelayMs = init.initialDelayMs ?? 250
    this.maxDelayMs = init.maxDelayMs ?? 30_000
    this.dialTimeoutMs = init.dialTimeoutMs ?? DIAL_TIMEOUT_MS
  }

  start (): void {
    this.running = true
    this.libp2p.addEventListener('peer:disconnect', this.onDisconnect)
    for (const t of this.targets.values()) this.schedule(t, 0)
  }

  stop (): void {
    this.running = false
    this.libp2p.removeEventListener('peer:disconnect', this.onDisconnect)
    for (const t of this.targets.values()) clearTimeout(t.timer)
  }

  /**
   * Keeps a peer connected. `addr` is a multiaddr ending in /p2p/<id>, or a peer id with the
   * addresses to dial it at. Calling again updates the addresses.
   */
  keep (peer: string | { peerId: string, addrs: string[] }, opts: { permanent: boolean }): void {
    let peerId: PeerId
    let addrs: Multiaddr[]
    if (typeof peer === 'string') {
      const ma = multiaddr(peer)
      const id = ma.getComponents().findLast(c => c.name === 'p2p')?.value
      if (id == null) throw new Error(`${peer} does not end in /p2p/<peer id>`)
      peerId = peerIdFromString(id)
      addrs = [ma]
    } else {
      peerId = peerIdFromString(peer.peerId)
      addrs = peer.addrs.map(a => multiaddr(a).encapsulate(`/p2p/${peer.peerId}`))
    }
    const key = peerId.toString()
    const existing = this.targets.get(key)
    if (existing != null) {
      if (!existing.permanent) existing.addrs = addrs
      existing.permanent ||= opts.permanent
      return
    }
    const target: Target = { peerId, addrs, permanent: opts.permanent, failures: 0, dialing: false, lastError: null, nextDialAt: null }
    this.targets.set(key, target)
    if (this.running) this.schedule(target, 0)
  }

  /** Stops keeping a discovered (non-permanent) peer; bootstrap peers are never forgotten. */
  forget (peerId: string): void {
    const t = this.targets.get(peerId)
    if (t == null || t.permanent) return
    clearTimeout(t.timer)
    this.targets.delete(peerId)
  }

  status (): KeeperStatus[] {
    return [...this.targets.values()].map(t => ({
      peerId: t.peerId.toString(),
      permanent: t.permanent,
      connected: this.isConnected(t.peerId),
      failures: t.failures,
      lastError: t.lastError,
      nextDialAt: t.nextDialAt == null ? null : new Date(t.nextDialAt).toISOString()
    }))
  }

  private isConnected (peerId: PeerId): boolean {
    return this.libp2p.getConnections(peerId).some(c => c.status === 'open')
  }

  private schedule (target: Target, delayMs: number): void {
    clearTimeout(target.timer)
    target.nextDialAt = Date.now() + delayMs
    target.timer = setTimeout(() => { void this.dial(target) }, delayMs)
    target.timer.unref()
  }

  private backoff (failures: number): number {
    const base = Math.min(this.maxDelayMs, this.initialDelayMs * 2 ** Math.min(failures, 30))
    return Math.round(base * (1 + (Math.random() * 2 - 1) * REDIAL_JITTER))
  }

  private async dial (target: Target): Promise<void> {
    target.nextDialAt = null
    if (!this.running || target.dialing || !this.targets.has(target.peerId.toString())) return
    if (this.isConnected(target.peerId)) { target.failures = 0; return }
    target.dialing = true
    try {
      await this.libp2p.dial(target.addrs, { signal: AbortSignal.timeout(this.dialTimeoutMs) })
      if (target.failures > 0) this.log.info({ peer: target.peerId.toString(), after: target.failures }, 'reconnected')
      else this.log.debug({ peer: target.peerId.toString() }, 'connected')
      target.failures = 0
      target.lastError = null
    } catch (err) {
      target.failures++
      target.lastError = describeError(err)
      if (!this.running) return
      const delay = this.backoff(target.failures)
      // Log the first failure and then only occasionally: an absent peer must not flood the log.
      const level = target.failures === 1 || target.failures % 10 === 0 ? 'warn' : 'debug'
      this.log[level]({ peer: target.peerId.toString(), failures: target.failures, retryInMs: delay, err: target.lastError }, 'dial failed')
      this.schedule(target, delay)
    } finally {
      target.dialing = false
    }
  }
}

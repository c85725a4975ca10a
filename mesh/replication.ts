import type { Libp2p, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Logger } from 'pino'
import { verifyPeerSignature } from '../identity/index.ts'
import {
  entitiesTopic, syncProtocol, MAX_ENVELOPE_BYTES, MAX_GOSSIP_BYTES, MAX_SYNC_FRAME_BYTES, MAX_SYNC_ROUND_BYTES,
  REPLAY_MEMORY, SYNC_PAGE
} from './constants.ts'
import { JsonFrames } from './framing.ts'
import type { Membership } from './membership.ts'
import { TopicValidatorResult, type PubSub, type PubSubMessage } from './pubsub.ts'
import type { MembershipPolicy } from './interface.ts'
import { describeError } from './errors.ts'

/** An envelope as the mesh sees it: a signed batch of one origin's consecutive changes. */
export interface EnvelopeLike {
  /** origin domain */
  o: string
  /** origin peer id */
  p: string
  f: number
  t: number
  /** the changes (the policy checks the rest of their shape) */
  c: Array<{ o: string, n: number, id?: string }>
  /** 'skip': numbers f…t carry no change (the origin lost them in a crash); `c` is empty */
  k?: 'skip'
}

export interface SignedEnvelopeLike { d: string, s: string }

/** What the mesh needs from the entity store: the consumer declares it, the store implements it. */
export interface ReplicaStore {
  readonly domain: string
  versionVector: () => Record<string, number>
  isReceived: (origin: string, n: number) => boolean
  /** every change f…t of the origin received (constant work below the watermark) */
  isRangeReceived: (origin: string, f: number, t: number) => boolean
  /** stored envelopes after `afterSeq`: their JSON and last sequence number; at most `limit`, none after the one that reaches `maxBytes` */
  logSinceRaw: (origin: string, afterSeq: number, limit: number, maxBytes?: number) => Promise<Array<{ to: number, json: string }>>
  applyEnvelopes: (items: Array<{ envelope: any, signed: SignedEnvelopeLike }>) => Promise<{ applied: number, duplicates: number }>
  skipRange: (origin: string, from: number, to: number) => Promise<void>
  /** whether the entity is here (live): what a waiting envelope waits for */
  holds: (id: string) => boolean
  /** the origin's envelopes up to this seq were compacted out of the log */
  logFloor: (origin: string) => number
  /** whole entity records in id order, for peers the log no longer reaches back to */
  snapshotPage: (after: string | null, limit: number) => Promise<{ records: Array<{ id: string }>, next: string | null }>
  mergeSnapshot: (records: any[], received: Array<{ origin: string, from: number, to: number }>) => Promise<number>
  /** own sequence numbers an unclean shutdown may have lost after publishing them (null: none) */
  pendingOwnGap: () => { from: number, to: number } | null
  /** publishes skips for the own numbers that are still missing; returns how many */
  fillOwnGap: () => Promise<number>
}

/** The federation's rules for content (schema, who may write what), decided by the node. */
export interface ReplicationPolicy {
  /**
   * null if the envelope may be applied, the reason it may not, or the entities it changes that
   * must be here before it can be judged (`wait: false`: judge it as things stand). `batch` is one
   * context per gossip message or sync frame, whose envelopes are checked in order before any is
   * applied (an envelope is judged with what the earlier ones create).
   */
  check: (envelope: EnvelopeLike, opts: { wait: boolean, batch?: object }) => Promise<PolicyAnswer>
  /** a new context for the envelopes of one message or frame */
  newBatch: () => object
  /** a snapshot record with what this domain may accept of it (null: nothing) */
  checkRecord: (record: any) => Promise<any | null>
}

export type PolicyAnswer = string | null | { waitFor: string[] }

export interface ReplicatorComponents {
  libp2p: Libp2p
  pubsub: PubSub
  membership: Membership
  members: MembershipPolicy
  store: ReplicaStore
  policy: ReplicationPolicy
  log: Logger
}

export interface ReplicatorInit {
  federation: string
  /** longest wait before a batch of local envelopes is published, ms (default 5) */
  publishDelayMs?: number
  /** local envelopes queued for gossip before the oldest are dropped (anti-entropy repairs; default 50 000) */
  maxQueued?: number
  /** how often to pull from peers that are ahead of us, ms (default 2000) */
  syncIntervalMs?: number
  /**
   * After an unclean shutdown: how long to look for our own lost changes at peers before the
   * numbers still missing are skipped, ms (default 30 000; sooner once every connected member
   * has been asked)
   */
  recoveryTimeoutMs?: number
  /**
   * How long an envelope may wait for an entity it changes (and does not create) to arrive before
   * it is judged without it, ms (default 60 000)
   */
  waitTimeoutMs?: number
  /** envelopes kept waiting at most; the oldest are dropped (anti-entropy brings them again; default 10 000) */
  maxWaiting?: number
  /** …and their bytes at most (default 64 MiB) */
  maxWaitingBytes?: number
  /**
   * What one anti-entropy round from a peer may bring, bytes (default MAX_SYNC_ROUND_BYTES, 32 MiB,
   * also the most a peer sends). The peer stops after the frame that crosses it; this node buffers
   * up to this plus two frames while it applies.
   */
  syncRoundBytes?: number
}

export interface PeerSyncState {
  peerId: string
  state: 'idle' | 'syncing' | 'error'
  lastSync: string | null
  lastError: string | null
  /** envelopes received from this peer by anti-entropy since start */
  received: number
  /** changes this node is behind that peer, by the peer's last heartbeat */
  lag: number
}

export interface ReplicationStats {
  published: number
  publishedEnvelopes: number
  dropped: number
  /** envelopes too large for a gossip message (peers get them by anti-entropy) */
  notGossiped: number
  /** local envelopes not gossiped because no peer was subscribed (peers get them by anti-entropy) */
  unsent: number
  gossipApplied: number
  syncApplied: number
  rejected: number
  replays: number
  /** envelopes that waited for an entity they change to arrive first */
  waited: number
  /** …of which judged without it after waitTimeoutMs */
  waitExpired: number
  /** envelopes waiting now */
  waiting: number
  /** …and their bytes (signed JSON) */
  waitingBytes: number
  /** anti-entropy rounds pulled from peers */
  syncRounds: number
}

/**
 * A refused envelope: `blame` says whom to count the reject against (the peer that sent it, or the
 * signer); `final` (a policy refusal of an envelope its own origin signed) means its numbers are
 * skipped so that it is not asked for again. An envelope signed for a domain by another peer is not
 * final: skipping would hide the real domain's changes with those numbers.
 */
type Verdict = { ok: true, envelope: EnvelopeLike } |
{ ok: false, reason: string, blame: 'sender' | 'origin', envelope?: EnvelopeLike, final?: boolean } |
{ ok: 'wait', envelope: EnvelopeLike, waitFor: string[] }

/** A checked envelope the policy could not judge yet: it changes entities that are not here. */
interface Waiting { envelope: EnvelopeLike, signed: SignedEnvelopeLike, waitFor: string[], since: number, via: 'gossip' | 'sync' }

/**
 * Replication of entity changes between domains: local envelopes are published on the federation
 * topic in batches (a few ms, at most MAX_GOSSIP_BYTES); received ones are checked (author is a
 * member bound to the origin domain, signature, structure, the federation's write policy) before
 * they are applied. Gossip loses what a node misses while down or partitioned, so anti-entropy
 * pulls, on connect and periodically, the envelopes a peer has beyond our version vector.
 */
export class Replicator {
  private readonly c: ReplicatorComponents
  private readonly topic: string
  private readonly protocol: string
  private readonly publishDelayMs: number
  private readonly maxQueued: number
  private readonly syncIntervalMs: number
  private readonly syncRoundBytes: number
  private readonly recoveryTimeoutMs: number
  private readonly waitTimeoutMs: number
  private readonly maxWaiting: number
  private readonly maxWaitingBytes: number
  /** envelopes waiting for entities they change, by `origin␀from` (insertion order: oldest first) */
  private readonly waiting = new Map<string, Waiting>()
  /** entity id → keys of the envelopes waiting for it */
  private readonly waitingOn = new Map<string, Set<string>>()
  private waitingBytes = 0
  private retrying?: Promise<void>
  /** entities applied since the last pass over the waiting envelopes, that some wait for */
  private readonly arrived = new Set<string>()
  private retryAll = false
  private recoveryTimer?: NodeJS.Timeout
  private recovering = false
  private startedAt = 0
  /** envelopes to gossip, each as its JSON (serialised once, by the store) */
  private queue: Array<{ json: string, size: number }> = []
  private queueBytes = 0
  /** cancels the scheduled flush (a timer or an immediate), when one is scheduled */
  private cancelFlush?: () => void
  private lastFlushAt = 0
  private syncTimer?: NodeJS.Timeout
  private running = false
  private readonly syncs = new Map<string, PeerSyncState>()
  /** each peer's version vector as its last anti-entropy answer gave it (sooner than its heartbeats after a heal) */
  private readonly syncVv = new Map<string, Record<string, number>>()
  private readonly syncing = new Map<string, Promise<void>>()
  /** envelopes already taken from gossip, `origin␀to`, to recognise replays */
  private readonly seenGossip = new Set<string>()
  /** parsed and checked gossip messages, from the validator to the message handler */
  private readonly accepted = new WeakMap<Uint8Array, Array<{ envelope: EnvelopeLike, signed: SignedEnvelopeLike }>>()
  private readonly counters = { published: 0, publishedEnvelopes: 0, dropped: 0, notGossiped: 0, unsent: 0, gossipApplied: 0, syncApplied: 0, rejected: 0, replays: 0, waited: 0, waitExpired: 0, syncRounds: 0 }
  // Applied on the next turn of the event loop: gossipsub hands us the message before it forwards
  // it to its mesh peers, and applying first (merge, LevelDB write) made every relay hop wait for
  // it (a gossiped write reached the next domain ~0.5 ms later; measured with a line of three).
  private readonly onMessage = (evt: CustomEvent<PubSubMessage>): void => { setImmediate(() => { if (this.running) void this.handleMessage(evt.detail) }) }
  private readonly onConnect = (evt: CustomEvent<PeerId>): void => {
    const peer = evt.detail.toString()
    if (!this.c.members.isMember(peer)) return
    // Let identify and the stream muxer settle, then catch up with the new peer.
    setTimeout(() => { void this.syncWith(peer) }, 200).unref()
  }

  constructor (components: ReplicatorComponents, init: ReplicatorInit) {
    this.c = components
    this.topic = entitiesTopic(init.federation)
    this.protocol = syncProtocol(init.federation)
    this.publishDelayMs = init.publishDelayMs ?? 5
    this.maxQueued = init.maxQueued ?? 50_000
    this.syncIntervalMs = init.syncIntervalMs ?? 2000
    this.syncRoundBytes = Math.min(init.syncRoundBytes ?? MAX_SYNC_ROUND_BYTES, MAX_SYNC_ROUND_BYTES)
    this.recoveryTimeoutMs = init.recoveryTimeoutMs ?? 30_000
    this.waitTimeoutMs = init.waitTimeoutMs ?? 60_000
    this.maxWaiting = init.maxWaiting ?? 10_000
    this.maxWaitingBytes = init.maxWaitingBytes ?? 64 * 1024 * 1024
  }

  get stats (): ReplicationStats {
    return { ...this.counters, waiting: this.waiting.size, waitingBytes: this.waitingBytes }
  }

  async start (): Promise<void> {
    this.running = true
    this.c.pubsub.topicValidators.set(this.topic, async (from, msg) => await this.validate(from, msg))
    this.c.pubsub.addEventListener('message', this.onMessage)
    this.c.pubsub.subscribe(this.topic)
    await this.c.libp2p.handle(this.protocol, (stream, connection) => { void this.serveSync(stream, connection.remotePeer.toString()) }, { maxInboundStreams: 8 })
    this.c.libp2p.addEventListener('peer:connect', this.onConnect)
    this.syncTimer = setInterval(() => { this.syncRound() }, this.syncIntervalMs)
    this.syncTimer.unref()
    this.startedAt = Date.now()
    if (this.c.store.pendingOwnGap() != null) {
      this.recoveryTimer = setInterval(() => { void this.recoverOwn() }, Math.min(500, this.recoveryTimeoutMs))
      this.recoveryTimer.unref()
    }
  }

  async stop (): Promise<void> {
    this.running = false
    clearInterval(this.syncTimer)
    clearInterval(this.recoveryTimer)
    this.cancelFlush?.()
    this.c.libp2p.removeEventListener('peer:connect', this.onConnect)
    this.c.pubsub.removeEventListener('message', this.onMessage)
    this.c.pubsub.topicValidators.delete(this.topic)
    try { this.c.pubsub.unsubscribe(this.topic) } catch { /* already stopped */ }
    await this.c.libp2p.unhandle(this.protocol).catch(() => {})
    await Promise.allSettled([...this.syncing.values(), ...(this.retrying != null ? [this.retrying] : [])])
  }

  /**
   * Queues a local envelope for gossip, as the JSON the store logged (`{"d":…,"s":…}`). The first write after a quiet spell goes out at once;
   * writes that follow within `publishDelayMs` are batched into one message (at most
   * MAX_GOSSIP_BYTES). An envelope too large for any gossip message reaches peers by anti-entropy.
   */
  publish (json: string): void {
    if (!this.running) return
    // Nobody subscribed (a lone domain, or one cut off): gossipsub would sign the message and then
    // refuse to send it. Peers that subscribe later get it by anti-entropy on connect.
    if (this.c.pubsub.getSubscribers(this.topic).length === 0) {
      this.counters.unsent++
      return
    }
    const size = Buffer.byteLength(json)
    if (size > MAX_GOSSIP_BYTES - 64) {
      this.counters.notGossiped++
      return
    }
    this.queue.push({ json, size })
    this.queueBytes += size
    while (this.queue.length > this.maxQueued) {
      const dropped = this.queue.shift() as { size: number }
      this.queueBytes -= dropped.size
      this.counters.dropped++
    }
    if (this.queueBytes >= MAX_GOSSIP_BYTES / 2) { void this.flush(); return }
    if (this.cancelFlush != null) return
    if (Date.now() - this.lastFlushAt >= this.publishDelayMs) {
      const t = setImmediate(() => { void this.flush() })
      this.cancelFlush = () => { clearImmediate(t) }
    } else {
      const t = setTimeout(() => { void this.flush() }, this.publishDelayMs)
      this.cancelFlush = () => { clearTimeout(t) }
    }
  }

  /**
   * After an unclean shutdown, our own changes that reached peers but not our disk come back by
   * anti-entropy (every pull sends our version vector, and peers send what they hold beyond it,
   * ours included). Once every connected member has been pulled from since the start (but not
   * before a couple of sync intervals, so that peers have time to connect), or at the latest after
   * recoveryTimeoutMs, the numbers still missing are skipped, so no domain waits for them.
   */
  private async recoverOwn (): Promise<void> {
    if (this.recovering || !this.running) return
    if (this.c.store.pendingOwnGap() == null) {
      clearInterval(this.recoveryTimer)
      return
    }
    const elapsed = Date.now() - this.startedAt
    const connected = this.connectedMembers()
    const askedAll = connected.length > 0 && connected.every(p => {
      const s = this.syncs.get(p)
      return s?.lastSync != null && Date.parse(s.lastSync) >= this.startedAt && s.state === 'idle'
    })
    if (elapsed < this.recoveryTimeoutMs && !(askedAll && elapsed >= Math.min(this.recoveryTimeoutMs, 2 * this.syncIntervalMs))) return
    this.recovering = true
    try {
      const skipped = await this.c.store.fillOwnGap()
      clearInterval(this.recoveryTimer)
      this.c.log.info({ skipped, askedPeers: connected.length }, 'recovery after an unclean shutdown done')
    } catch (err) {
      this.c.log.error({ err }, 'skipping own changes lost in an unclean shutdown failed; retrying')
    } finally {
      this.recovering = false
    }
  }

  /** Per-peer anti-entropy state, for /mesh/v1/peers. */
  syncState (): PeerSyncState[] {
    const mine = this.c.store.versionVector()
    const peers = new Set([...this.syncs.keys(), ...this.c.membership.alivePeers().map(p => p.peerId)])
    return [...peers].map(peerId => {
      const s = this.syncs.get(peerId) ?? { peerId, state: 'idle' as const, lastSync: null, lastError: null, received: 0, lag: 0 }
      return { ...s, lag: lagBehind(mine, highest(this.c.membership.versionVectorOf(peerId), this.syncVv.get(peerId))) }
    })
  }

  /** Pulls from one peer everything it has beyond our version vector. Safe to call concurrently. */
  async syncWith (peer: string): Promise<void> {
    const running = this.syncing.get(peer)
    if (running != null) return await running
    const p = this.pull(peer).finally(() => { this.syncing.delete(peer) })
    this.syncing.set(peer, p)
    return await p
  }

  private async flush (): Promise<void> {
    this.cancelFlush?.()
    this.cancelFlush = undefined
    this.lastFlushAt = Date.now()
    while (this.queue.length > 0) {
      const batch: string[] = []
      let bytes = 16
      while (this.queue.length > 0) {
        const next = this.queue[0]
        if (batch.length > 0 && bytes + next.size + 1 > MAX_GOSSIP_BYTES) break
        batch.push(next.json)
        bytes += next.size + 1
        this.queue.shift()
        this.queueBytes -= next.size
      }
      try {
        // The same bytes as JSON.stringify({ v: 1, e: envelopes }), without serialising them again.
        await this.c.pubsub.publish(this.topic, Buffer.from(`{"v":1,"e":[${batch.join(',')}]}`))
        this.counters.published++
        this.counters.publishedEnvelopes += batch.length
      } catch (err) {
        // Peers that miss it catch up through anti-entropy.
        this.c.log.debug({ err }, 'publishing changes failed')
      }
    }
  }

  /** Checks one envelope: structure, origin binding, signature, then the federation's policy. */
  private async check (signed: unknown, author: string | undefined, batch: object): Promise<Verdict> {
    if (signed == null || typeof signed !== 'object') return { ok: false, reason: 'envelope is not an object', blame: 'sender' }
    const { d, s } = signed as Record<string, unknown>
    if (typeof d !== 'string' || typeof s !== 'string') return { ok: false, reason: 'envelope lacks data or signature', blame: 'sender' }
    if (d.length > MAX_ENVELOPE_BYTES) return { ok: false, reason: `envelope of ${d.length} bytes exceeds ${MAX_ENVELOPE_BYTES}`, blame: 'sender' }
    let env: EnvelopeLike
    try { env = JSON.parse(d) as EnvelopeLike } catch { return { ok: false, reason: 'envelope data is not JSON', blame: 'sender' } }
    const header = checkHeader(env)
    if (header != null) return { ok: false, reason: header, blame: 'sender' }
    if (author != null && env.p !== author) return { ok: false, reason: `envelope signed for ${env.p} but published by ${author}`, blame: 'sender' }
    const ours = env.p === this.c.libp2p.peerId.toString()
    if (!ours && !this.c.members.isMember(env.p)) return { ok: false, reason: `origin peer ${env.p} is not a member`, blame: 'sender' }
    // Our own envelopes, signed by us, come back by anti-entropy after an unclean shutdown.
    if (env.o === this.c.store.domain && !ours) return { ok: false, reason: `envelope claims to come from this domain (${env.o})`, blame: 'sender' }
    if (!verifyPeerSignature(env.p, new TextEncoder().encode(d), Buffer.from(s, 'base64'))) {
      return { ok: false, reason: 'bad signature', blame: 'sender' }
    }
    if (!this.c.membership.bind(env.o, env.p)) {
      return { ok: false, reason: `domain ${env.o} belongs to peer ${this.c.membership.peerOf(env.o) ?? '?'}, not ${env.p}`, blame: 'origin', envelope: env }
    }
    return await this.judge(env, true, batch)
  }

  /** The federation's policy on an envelope whose origin and signature are checked. */
  private async judge (env: EnvelopeLike, wait: boolean, batch?: object): Promise<Verdict> {
    const answer = await this.c.policy.check(env, { wait, batch })
    if (answer == null) return { ok: true, envelope: env }
    if (typeof answer === 'string') return { ok: false, reason: answer, blame: 'origin', envelope: env, final: true }
    return { ok: 'wait', envelope: env, waitFor: answer.waitFor }
  }

  /** Keeps an envelope until the entities it waits for are here (or waitTimeoutMs has passed). */
  private park (v: { envelope: EnvelopeLike, waitFor: string[] }, signed: SignedEnvelopeLike, via: Waiting['via'], since?: number): void {
    const key = `${v.envelope.o}\u0000${v.envelope.f}`
    if (this.waiting.has(key)) return
    if (since == null) this.counters.waited++
    this.waiting.set(key, { envelope: v.envelope, signed, waitFor: v.waitFor, since: since ?? Date.now(), via })
    this.waitingBytes += signed.d.length
    for (const id of v.waitFor) {
      let keys = this.waitingOn.get(id)
      if (keys == null) { keys = new Set(); this.waitingOn.set(id, keys) }
      keys.add(key)
    }
    // The oldest go first; they are not marked received, so anti-entropy brings them again.
    while (this.waiting.size > this.maxWaiting || this.waitingBytes > this.maxWaitingBytes) {
      const oldest = this.waiting.keys().next().value as string
      this.unpark(oldest)
    }
  }

  private unpark (key: string): Waiting | undefined {
    const w = this.waiting.get(key)
    if (w == null) return undefined
    this.waiting.delete(key)
    this.waitingBytes -= w.signed.d.length
    for (const id of w.waitFor) {
      const keys = this.waitingOn.get(id)
      keys?.delete(key)
      if (keys?.size === 0) this.waitingOn.delete(id)
    }
    return w
  }

  /**
   * Judges again the waiting envelopes that wait for one of `ids` (entities just applied) or, with
   * `all`, every waiting envelope, including those that waited waitTimeoutMs (judged without their
   * entity: one that never comes, or whose creation this domain refused); applies those accepted.
   * Called after every apply (with the ids it changed) and each sync interval (all).
   */
  private async retryWaiting (opts: { ids?: Iterable<string>, all?: boolean }): Promise<void> {
    if (this.waiting.size === 0 || !this.running) return
    if (opts.all === true) this.retryAll = true
    for (const id of opts.ids ?? []) if (this.waitingOn.has(id)) this.arrived.add(id)
    if (!this.retryAll && this.arrived.size === 0) return
    // A running pass picks up what was just noted.
    if (this.retrying != null) return await this.retrying
    this.retrying = (async () => {
      while (this.running && (this.retryAll || this.arrived.size > 0)) {
        const all = this.retryAll
        const keys = all ? [...this.waiting.keys()] : [...new Set([...this.arrived].flatMap(id => [...(this.waitingOn.get(id) ?? [])]))]
        this.retryAll = false
        this.arrived.clear()
        const now = Date.now()
        const ready: Array<{ envelope: EnvelopeLike, signed: SignedEnvelopeLike, via: Waiting['via'] }> = []
        for (const key of keys) {
          const w = this.waiting.get(key)
          if (w == null) continue
          const expired = all && now - w.since >= this.waitTimeoutMs
          if (!expired && !w.waitFor.some(id => this.c.store.holds(id))) continue
          this.unpark(key)
          if (this.c.store.isRangeReceived(w.envelope.o, w.envelope.f, w.envelope.t)) continue
          const v = await this.judge(w.envelope, !expired)
          if (v.ok === true) {
            if (expired) {
              this.counters.waitExpired++
              this.c.log.info({ origin: w.envelope.o, from: w.envelope.f, to: w.envelope.t, waitedFor: w.waitFor.slice(0, 5) }, 'changes that waited for their entity were judged without it (waitTimeoutMs passed)')
            }
            ready.push({ envelope: w.envelope, signed: w.signed, via: w.via })
          } else if (v.ok === 'wait') {
            this.park(v, w.signed, w.via, w.since)
          } else {
            this.reject(w.envelope.p, v.reason)
            await this.c.store.skipRange(w.envelope.o, w.envelope.f, w.envelope.t)
          }
        }
        if (ready.length > 0) {
          // Counted where they came from (applyEnvelopes counts per batch, so one batch per source).
          for (const via of ['gossip', 'sync'] as const) {
            const some = ready.filter(r => r.via === via)
            if (some.length > 0) this.counters[via === 'gossip' ? 'gossipApplied' : 'syncApplied'] += (await this.c.store.applyEnvelopes(some)).applied
          }
          // What was just applied may be what others wait for.
          for (const id of idsOf(ready)) if (this.waitingOn.has(id)) this.arrived.add(id)
        }
      }
    })().catch(err => { this.c.log.error({ err }, 'applying changes that waited for their entities failed') })
      .finally(() => {
        this.retrying = undefined
        // Noted after the last pass had looked (between its end and this callback).
        if (this.arrived.size > 0 || this.retryAll) void this.retryWaiting({})
      })
    return await this.retrying
  }

  private reject (peer: string, reason: string): void {
    this.counters.rejected++
    this.c.membership.countReject(peer, this.topic, reason)
  }

  private async validate (from: PeerId, msg: PubSubMessage): Promise<TopicValidatorResult> {
    if (msg.type !== 'signed') {
      this.reject(from.toString(), 'unsigned message')
      return TopicValidatorResult.Reject
    }
    const author = msg.from.toString()
    if (!this.c.members.isMember(msg.from)) {
      this.reject(author, 'author is not a federation member')
      return TopicValidatorResult.Reject
    }
    if (msg.data.byteLength > MAX_GOSSIP_BYTES) {
      this.reject(author, `message of ${msg.data.byteLength} bytes exceeds ${MAX_GOSSIP_BYTES}`)
      return TopicValidatorResult.Reject
    }
    let body: { v?: unknown, e?: unknown }
    try { body = JSON.parse(new TextDecoder().decode(msg.data)) } catch {
      this.reject(author, 'message is not JSON')
      return TopicValidatorResult.Reject
    }
    if (body.v !== 1 || !Array.isArray(body.e) || body.e.length === 0) {
      this.reject(author, 'message is not {v: 1, e: [envelopes]}')
      return TopicValidatorResult.Reject
    }
    const good: Array<{ envelope: EnvelopeLike, signed: SignedEnvelopeLike }> = []
    const wait: Array<{ envelope: EnvelopeLike, signed: SignedEnvelopeLike, waitFor: string[] }> = []
    let replays = 0
    const batch = this.c.policy.newBatch()
    for (const signed of body.e) {
      const v = await this.check(signed, author, batch)
      if (v.ok === 'wait') {
        // Forwarded all the same: other domains may hold the entity and judge it now.
        if (this.seenGossip.has(`${v.envelope.o}\u0000${v.envelope.t}`)) replays++
        else wait.push({ ...v, signed: signed as SignedEnvelopeLike })
        continue
      }
      if (!v.ok) {
        this.reject(author, v.reason)
        // A policy refusal is final: do not let anti-entropy ask for it again.
        if (v.final === true && v.envelope != null) await this.c.store.skipRange(v.envelope.o, v.envelope.f, v.envelope.t)
        return TopicValidatorResult.Reject
      }
      const key = `${v.envelope.o}\u0000${v.envelope.t}`
      if (this.seenGossip.has(key)) { replays++; continue }
      good.push({ envelope: v.envelope, signed: signed as SignedEnvelopeLike })
    }
    if (replays > 0) {
      this.counters.replays += replays
      this.reject(author, `replayed ${replays} envelope(s) already received by gossip`)
      if (good.length === 0 && wait.length === 0) return TopicValidatorResult.Reject
    }
    for (const w of wait) this.park(w, w.signed, 'gossip')
    for (const g of [...good, ...wait]) {
      this.seenGossip.add(`${g.envelope.o}\u0000${g.envelope.t}`)
      if (this.seenGossip.size > REPLAY_MEMORY) this.seenGossip.delete(this.seenGossip.values().next().value as string)
    }
    this.accepted.set(msg.data, good)
    // Its author wrote it and our neighbour passed it on: both are alive, and their gossip reaches
    // us, whatever their heartbeats say. (Anti-entropy traffic does not count: it flows even when
    // a member's gossip path is lost, which is what a silent member on an open connection means.)
    this.c.membership.noteActivity(author)
    this.c.membership.noteActivity(from.toString())
    return TopicValidatorResult.Accept
  }

  private async handleMessage (msg: PubSubMessage): Promise<void> {
    if (msg.topic !== this.topic) return
    const items = this.accepted.get(msg.data)
    if (items == null) return
    this.accepted.delete(msg.data)
    if (items.length === 0) return
    try {
      const r = await this.c.store.applyEnvelopes(items)
      this.counters.gossipApplied += r.applied
    } catch (err) {
      this.c.log.error({ err }, 'applying gossiped changes failed')
    }
    if (this.waiting.size > 0) await this.retryWaiting({ ids: idsOf(items) })
  }

  private syncRound (): void {
    if (!this.running) return
    if (this.waiting.size > 0) void this.retryWaiting({ all: true })
    const mine = this.c.store.versionVector()
    // Every connected member, alive or not: a member whose gossip stopped reaching us (and so
    // looks dead) while its connection stays up is exactly the one anti-entropy must repair.
    const candidates = this.connectedMembers().map(peerId => ({ peerId }))
    const behind = candidates.filter(p => lagBehind(mine, this.c.membership.versionVectorOf(p.peerId)) > 0)
    // Pull from every peer that is ahead of us; otherwise from one at random, in case a peer's
    // heartbeat (and its version vector) has not reached us.
    const targets = behind.length > 0 ? behind : candidates.length > 0 ? [candidates[Math.floor(Math.random() * candidates.length)]] : []
    for (const t of targets) void this.syncWith(t.peerId)
  }

  /** Members with an open connection to us (whatever their heartbeats say). */
  private connectedMembers (): string[] {
    const self = this.c.libp2p.peerId.toString()
    const open = new Set(this.c.libp2p.getConnections().filter(c => c.status === 'open').map(c => c.remotePeer.toString()))
    return [...open].filter(p => p !== self && this.c.members.isMember(p))
  }

  private state (peer: string): PeerSyncState {
    let s = this.syncs.get(peer)
    if (s == null) { s = { peerId: peer, state: 'idle', lastSync: null, lastError: null, received: 0, lag: 0 }; this.syncs.set(peer, s) }
    return s
  }

  /** Client side of anti-entropy: send our version vector, apply what comes back, repeat while there is more. */
  private async pull (peer: string): Promise<void> {
    if (!this.running) return
    const st = this.state(peer)
    st.state = 'syncing'
    try {
      const cursor: { snapshotAfter?: string | null } = {}
      for (let round = 0; round < 1000 && this.running; round++) {
        const before = { received: st.received, position: positionOf(this.c.store.versionVector()) }
        const more = await this.pullRound(peer, st, cursor)
        if (!more) break
        // A round that brought nothing new (what it sent is held, or waits for an entity) would
        // be sent again as it is: try again at the next sync interval, in another order.
        if (st.received === before.received && positionOf(this.c.store.versionVector()) === before.position) {
          this.c.log.debug({ peer, round }, 'anti-entropy round brought nothing new; pausing until the next interval')
          break
        }
      }
      st.state = 'idle'
      st.lastError = null
      st.lastSync = new Date().toISOString()
    } catch (err) {
      st.state = 'error'
      st.lastError = describeError(err)
      this.c.log.debug({ err, peer }, 'anti-entropy with peer failed')
    }
  }

  private async pullRound (peer: string, st: PeerSyncState, cursor: { snapshotAfter?: string | null }): Promise<boolean> {
    const signal = AbortSignal.timeout(60_000)
    const stream = await this.c.libp2p.dialProtocol(peerIdFromString(peer), this.protocol, { signal })
    // A round is streamed without waiting for us: up to syncRoundBytes plus the frame that
    // crossed it and the closing frame may be buffered while we apply the first frames.
    const frames = new JsonFrames(stream, MAX_SYNC_FRAME_BYTES, this.syncRoundBytes + 2 * MAX_SYNC_FRAME_BYTES)
    this.counters.syncRounds++
    try {
      // `max`: what this round may bring (peers from before it was asked for send up to their own bound, the same).
      await frames.write({ vv: this.c.store.versionVector(), max: this.syncRoundBytes, ...(cursor.snapshotAfter !== undefined ? { snapshot: { after: cursor.snapshotAfter } } : {}) }, signal)
      for (;;) {
        const { message } = await frames.read<{ e?: unknown[], r?: unknown[], covered?: Array<{ origin: string, to: number }>, done?: boolean, more?: boolean, snapshotAfter?: string | null }>(signal)
        if (message.done === true) {
          await frames.close(signal).catch(() => {})
          if (message.snapshotAfter !== undefined) cursor.snapshotAfter = message.snapshotAfter
          else delete cursor.snapshotAfter
          return message.more === true
        }
        if (Array.isArray(message.r)) {
          // A snapshot page: our log position is behind what the peer's log still holds.
          const accepted = (await Promise.all(message.r.map(async r => await this.c.policy.checkRecord(r)))).filter(r => r != null)
          if (accepted.length < message.r.length) this.reject(peer, `anti-entropy: ${message.r.length - accepted.length} snapshot record(s) refused by policy`)
          await this.c.store.mergeSnapshot(accepted, [])
          st.received += accepted.length
          if (this.waiting.size > 0) await this.retryWaiting({ ids: accepted.map(r => (r as { id: string }).id) })
          continue
        }
        if (Array.isArray(message.covered)) {
          const mine = this.c.store.versionVector()
          const ranges = message.covered
            .filter(c => typeof c?.origin === 'string' && Number.isInteger(c.to) && c.origin !== this.c.store.domain)
            .map(c => ({ origin: c.origin, from: (mine[c.origin] ?? 0) + 1, to: c.to }))
            .filter(r => r.to >= r.from)
          await this.c.store.mergeSnapshot([], ranges)
          continue
        }
        if (!Array.isArray(message.e)) throw new Error('sync frame without envelopes')
        const vv = (message as { vv?: unknown }).vv
        if (vv != null && typeof vv === 'object') {
          this.syncVv.set(peer, Object.fromEntries(Object.entries(vv).filter(([, n]) => Number.isSafeInteger(n)) as Array<[string, number]>))
        }
        const good: Array<{ envelope: EnvelopeLike, signed: SignedEnvelopeLike }> = []
        const batch = this.c.policy.newBatch()
        for (const signed of message.e) {
          const v = await this.check(signed, undefined, batch)
          if (v.ok === 'wait') {
            if (!this.c.store.isRangeReceived(v.envelope.o, v.envelope.f, v.envelope.t)) this.park(v, signed as SignedEnvelopeLike, 'sync')
            continue
          }
          if (v.ok) {
            if (!this.c.store.isRangeReceived(v.envelope.o, v.envelope.f, v.envelope.t)) good.push({ envelope: v.envelope, signed: signed as SignedEnvelopeLike })
            continue
          }
          if (v.blame === 'sender') this.reject(peer, `anti-entropy: ${v.reason}`)
          else {
            this.reject(v.envelope?.p ?? peer, `anti-entropy: ${v.reason}`)
            if (v.final === true && v.envelope != null) await this.c.store.skipRange(v.envelope.o, v.envelope.f, v.envelope.t)
          }
        }
        if (good.length > 0) {
          const r = await this.c.store.applyEnvelopes(good)
          this.counters.syncApplied += r.applied
          st.received += good.length
        }
        if (this.waiting.size > 0) await this.retryWaiting({ ids: idsOf(good) })
      }
    } catch (err) {
      frames.abort(err as Error)
      throw err
    }
  }

  /** Server side of anti-entropy: the envelopes we hold beyond the caller's version vector. */
  private async serveSync (stream: Parameters<Parameters<Libp2p['handle']>[1]>[0], peer: string): Promise<void> {
    const frames = new JsonFrames(stream, MAX_SYNC_FRAME_BYTES)
    const signal = AbortSignal.timeout(60_000)
    try {
      if (!this.c.members.isMember(peer)) throw new Error('not a member')
      const { message } = await frames.read<{ vv?: Record<string, unknown>, max?: unknown, snapshot?: { after?: string | null } }>(signal)
      const theirs = message.vv ?? {}
      // The caller may ask for smaller rounds (to bound what it buffers), never larger ones.
      const roundBytes = typeof message.max === 'number' && Number.isSafeInteger(message.max) && message.max > 0 ? Math.min(message.max, MAX_SYNC_ROUND_BYTES) : MAX_SYNC_ROUND_BYTES
      const mine = this.c.store.versionVector()
      let sent = 0
      let more = false
      // Origins whose log we compacted beyond what the caller has: it gets the records instead.
      const gaps = Object.keys(mine).filter(o => (typeof theirs[o] === 'number' ? theirs[o] : 0) < this.c.store.logFloor(o))
      if (gaps.length > 0 || message.snapshot != null) {
        let after: string | null = message.snapshot?.after ?? null
        for (;;) {
          const page = await this.c.store.snapshotPage(after, SYNC_PAGE)
          // Large records make a page several frames; the round may end after any of them.
          const jsons = page.records.map(r => JSON.stringify(r))
          for (const [from, to] of frameRuns(jsons)) {
            sent += await frames.writeRaw(`{"r":[${jsons.slice(from, to).join(',')}]}`, signal)
            if (sent > roundBytes && (to < jsons.length || page.next != null)) {
              await frames.write({ done: true, more: true, snapshotAfter: page.records[to - 1].id }, signal)
              await frames.close(signal)
              return
            }
          }
          after = page.next
          if (after == null) break
        }
        await frames.write({ covered: gaps.map(o => ({ origin: o, to: this.c.store.logFloor(o) })) }, signal)
      }
      // A peer asking for its own changes (after a crash or a restore) gets all we hold of them,
      // also beyond a gap in what we hold: it has no other source. Other origins: up to our
      // gap-free watermark (what lies beyond reached the caller by gossip, or comes once the gap fills).
      const callerDomain = this.c.membership.domainOf(peer)
      let headed = false
      const frameHead = (): string => {
        if (headed) return '{'
        headed = true
        return `{"vv":${JSON.stringify(mine)},`
      }
      // Origins in a rotating order: a caller holding back one origin's change until another
      // origin's creation of its entity arrives is not served the first origin's backlog alone,
      // round after round.
      const origins = Object.entries(mine)
      const start = origins.length > 0 ? Math.floor(Math.random() * origins.length) : 0
      outer: for (const [origin, wm] of [...origins.slice(start), ...origins.slice(0, start)]) {
        let after = Math.max(typeof theirs[origin] === 'number' ? theirs[origin] : 0, this.c.store.logFloor(origin))
        const upTo = origin === callerDomain ? Infinity : wm
        while (after < upTo) {
          // No more than the round can still take (and a frame): a small round does not read a page of large envelopes to send one frame of it.
          const page = await this.c.store.logSinceRaw(origin, after, SYNC_PAGE, roundBytes - sent + MAX_SYNC_FRAME_BYTES)
          if (page.length === 0) break
          // Frames are put together from the stored JSON: { "e": [envelope, …] }; the first one
          // also carries our version vector, so that the caller sees how far behind it is.
          // The round ends after the frame that crosses roundBytes, within a page if need be (a
          // page of large envelopes is several frames): the caller has room for roundBytes and two
          // frames, and asks again from what it then holds.
          const jsons = page.map(e => e.json)
          for (const [from, to] of frameRuns(jsons)) {
            sent += await frames.writeRaw(`${frameHead()}"e":[${jsons.slice(from, to).join(',')}]}`, signal)
            if (sent > roundBytes) { more = true; break outer }
          }
          after = page[page.length - 1].to
        }
      }
      await frames.write({ done: true, more }, signal)
      await frames.close(signal)
    } catch (err) {
      this.c.log.debug({ err, peer }, 'serving anti-entropy failed')
      frames.abort(err as Error)
    }
  }
}

/**
 * Splits serialised items into runs [from, to) that each fit one sync frame with its wrapping
 * (an item larger than that goes alone, and the receiver refuses the frame).
 */
function * frameRuns (jsons: string[]): Generator<[number, number]> {
  let start = 0
  let bytes = 0
  for (let i = 0; i < jsons.length; i++) {
    const size = Buffer.byteLength(jsons[i]) + 1
    if (i > start && bytes + size > MAX_SYNC_FRAME_BYTES - 1024) {
      yield [start, i]
      start = i
      bytes = 0
    }
    bytes += size
  }
  if (start < jsons.length) yield [start, jsons.length]
}

/** How far a version vector reaches in all (grows with every change received). */
function positionOf (vv: Record<string, number>): number {
  let n = 0
  for (const k in vv) n += vv[k]
  return n
}

/** The entities the changes of these envelopes touch. */
function * idsOf (items: Array<{ envelope: EnvelopeLike }>): Generator<string> {
  for (const { envelope } of items) for (const ch of envelope.c) if (typeof ch.id === 'string') yield ch.id
}

function checkHeader (env: EnvelopeLike): string | null {
  if (env == null || typeof env !== 'object') return 'envelope is not an object'
  if (typeof env.o !== 'string' || env.o === '' || env.o.length > 63) return 'envelope origin is not a domain name'
  if (typeof env.p !== 'string' || env.p === '') return 'envelope lacks the origin peer id'
  try { peerIdFromString(env.p) } catch { return 'envelope origin peer id is malformed' }
  if (!Number.isInteger(env.f) || !Number.isInteger(env.t) || env.f < 1 || env.t < env.f) return 'envelope sequence range is malformed'
  if (env.k !== undefined && env.k !== 'skip') return 'envelope kind is unknown'
  if (env.k === 'skip') return Array.isArray(env.c) && env.c.length === 0 ? null : 'a skip envelope carries changes'
  if (!Array.isArray(env.c) || env.c.length !== env.t - env.f + 1) return 'envelope changes do not match its sequence range'
  for (let i = 0; i < env.c.length; i++) {
    const ch = env.c[i]
    if (ch == null || typeof ch !== 'object' || ch.o !== env.o || ch.n !== env.f + i) return `change ${i} of the envelope is not change ${env.f + i} of ${env.o}`
  }
  return null
}

/** The greater entry per origin of two version vectors (null when both are). */
function highest (a: Record<string, number> | null, b: Record<string, number> | undefined): Record<string, number> | null {
  if (b == null) return a
  if (a == null) return b
  const out = { ...a }
  for (const [o, n] of Object.entries(b)) if (n > (out[o] ?? 0)) out[o] = n
  return out
}

/** How many changes `mine` lacks compared with `theirs`. */
export function lagBehind (mine: Record<string, number>, theirs: Record<string, number> | null): number {
  if (theirs == null) return 0
  let lag = 0
  for (const [o, n] of Object.entries(theirs)) lag += Math.max(0, n - (mine[o] ?? 0))
  return lag
}

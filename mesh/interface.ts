import type { PeerId } from '@libp2p/interface'

/** What a node reports about its own load in each heartbeat. */
export interface LoadReport {
  /** share of the machine's CPU time in use since the last sample, 0..1 */
  cpu: number
  /** share of the machine's memory in use, 0..1 */
  memory: number
  /** resident set size of the node process, bytes */
  rssBytes: number
  /** event-loop delay (p99 over the last interval), milliseconds */
  eventLoopLagMs: number
}

/** The body of a membership heartbeat, as published (JSON) on the membership topic. */
export interface Heartbeat {
  v: 1
  domain: string
  fqdn: string
  /** absent while the sender's REST API is not listening yet (the mesh starts first) */
  apiUrl?: string
  /** multiaddrs the sender can be dialled at (without /p2p/) */
  addrs: string[]
  load: LoadReport
  /** strictly increasing per sender process run; with startedAt orders heartbeats */
  seq: number
  /** the sender's replication version vector (origin → contiguous sequence), for lag */
  vv?: Record<string, number>
  /** when the sender's process started (ms since epoch) */
  startedAt: number
  /** when the heartbeat was sent (ms since epoch, sender's clock) */
  sentAt: number
  /**
   * the sender's domain certificate (PEM), in some heartbeats only, so that members it is not
   * connected to learn that it belongs (the heartbeat's signature binds it to the sender)
   */
  cert?: string
}

export type MemberState = 'alive' | 'suspect' | 'dead'

/** One row of the membership table. */
export interface MemberInfo {
  peerId: string
  self: boolean
  state: MemberState
  /** domain name, API URL etc. from the last heartbeat; null until one arrived */
  domain: string | null
  fqdn: string | null
  apiUrl: string | null
  addrs: string[]
  load: LoadReport | null
  /** when the last heartbeat arrived (local clock, ISO 8601); null if never */
  lastSeen: string | null
  /** when the member last changed state (ISO 8601) */
  stateSince: string
  heartbeats: number
  /** round-trip time of the libp2p connection to it, ms; null when not directly connected */
  rttMs: number | null
  connected: boolean
  /** gossip messages from this peer that we rejected (forged, malformed, not allowed) */
  rejects: number
}

/** A peer outside the federation that tried to connect or whose messages we saw. */
export interface StrangerInfo {
  peerId: string
  refusedConnections: number
  rejects: number
  lastSeen: string
  /** why its last connection was refused (not a member, bad or revoked certificate, …) */
  lastReason?: string
}

/** Decides who belongs to the federation. The node passes one in; the mesh adds certificates to it. */
export interface MembershipPolicy {
  isMember(peerId: PeerId | string): boolean
  /**
   * Why a connection with this peer must be refused, or null to let it connect. Without this
   * method only members connect; a policy that learns members from the connection itself (by
   * certificate) admits unknown peers provisionally and refuses those it has reasons against.
   */
  connectionRefusal?(peerId: PeerId | string): string | null
}

/** What a peer proved with its domain certificate (see `Mesh.certificateOf`). */
export interface CertifiedPeer {
  peerId: string
  domain: string
  fqdn: string
  /** canonical serial (lower-case hex), as revocation lists name it */
  serial: string
  /** ISO 8601 */
  notAfter: string
  /** when we last checked it (ISO 8601) */
  verifiedAt: string
  /** how we got it: presented on a connection, or carried by a (signed) heartbeat */
  source: 'connection' | 'heartbeat'
  /** on the current revocation list: the peer is refused even when allowlisted */
  revoked: boolean
}

/** The outcome of `Mesh.setRevocationList`. */
export interface RevocationUpdate {
  /** false when the list was not newer than the one in force (nothing changed) */
  applied: boolean
  /** sequence number of the list in force */
  sequence: number
  /** peers whose certificate the list revokes (among those we know), now refused */
  revokedPeers: string[]
}

export interface MemberStateEvent {
  peerId: string
  domain: string | null
  from: MemberState | 'unknown'
  to: MemberState
}

export interface RejectEvent {
  peerId: string
  topic: string
  reason: string
}

/** Typed events of the mesh (see `Mesh.events`). */
export interface MeshEvents {
  'member:state': CustomEvent<MemberStateEvent>
  'member:heartbeat': CustomEvent<{ peerId: string, heartbeat: Heartbeat }>
  'gossip:reject': CustomEvent<RejectEvent>
  'peer:refused': CustomEvent<{ peerId: string, reason: string }>
  'peer:certified': CustomEvent<CertifiedPeer>
}

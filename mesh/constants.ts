/**
 * Names and limits of the mesh's wire protocols. Topic names embed the federation name so that
 * two federations sharing a network never mix their messages.
 */

/** Gossip topic of membership heartbeats; `v1` changes when the message format does. */
export const membershipTopic = (federation: string): string => `/cmesh/${federation}/membership/1`

/**
 * Largest heartbeat accepted: a heartbeat is a few hundred bytes, even with several addresses, plus
 * about 1.7 KiB when it carries the sender's domain certificate (RSA-2048, PEM); anything much
 * larger is garbage or abuse.
 */
export const MAX_HEARTBEAT_BYTES = 16 * 1024

/** Longest a single dial may take before we count it as failed and back off. */
export const DIAL_TIMEOUT_MS = 5000

/** Random spread added to each redial delay, so restarted nodes do not redial in lockstep. */
export const REDIAL_JITTER = 0.2

/** How often the membership table re-evaluates member states (alive → suspect → dead). */
export const STATE_SWEEP_MS = 250

/** Gossip topic of entity changes (signed envelopes). */
export const entitiesTopic = (federation: string): string => `/cmesh/${federation}/entities/1`

/** Anti-entropy stream protocol: version vectors in, missing envelopes out. */
export const syncProtocol = (federation: string): string => `/cmesh/${federation}/sync/1.0.0`

/** Write forwarding to the domain that owns an entity. */
export const forwardProtocol = (federation: string): string => `/cmesh/${federation}/forward/1.0.0`

/**
 * Largest gossip message of entity changes. Publishers cut batches below it; larger messages are
 * rejected (a batch upsert of 1,000 small entities is about 400 KiB of changes).
 */
export const MAX_GOSSIP_BYTES = 1024 * 1024

/** Largest single envelope (one local write: up to a 10,000-entity batch). */
export const MAX_ENVELOPE_BYTES = 8 * 1024 * 1024

/** Largest frame on the sync protocol, and what one sync round sends at most. */
export const MAX_SYNC_FRAME_BYTES = 8 * 1024 * 1024
export const MAX_SYNC_ROUND_BYTES = 32 * 1024 * 1024

/** Envelopes per log page read while serving a sync round. */
export const SYNC_PAGE = 256

/** Gossip envelopes remembered to recognise replays (per node, all origins). */
export const REPLAY_MEMORY = 4096

/** Certificate exchange, run on every new connection when the federation has a CA. */
export const certificateProtocol = (federation: string): string => `/cmesh/${federation}/cert/1.0.0`

/**
 * How long a newly connected peer that is not yet a member has to prove membership with its
 * certificate. The exchange is one round trip and an RSA signature check, so a second would do on
 * a LAN; 5 s leaves room for a slow or busy link without keeping strangers around for long.
 */
export const CERT_EXCHANGE_TIMEOUT_MS = 5000

/** Largest certificate message: a domain certificate in PEM is about 1.7 KiB. */
export const MAX_CERT_FRAME_BYTES = 16 * 1024

/** Largest certificate accepted in a heartbeat or an exchange (PEM characters). */
export const MAX_CERT_PEM_CHARS = 8192

/**
 * After a peer failed to prove membership, the gater refuses it for this long, so that a stranger
 * redialling in a loop costs us a refused handshake, not a connection of CERT_EXCHANGE_TIMEOUT_MS.
 */
export const CERT_REFUSAL_COOLDOWN_MS = 30_000

/** How often connections are re-checked, so peers whose certificate expired are disconnected. */
export const CERT_SWEEP_MS = 60_000

/**
 * Heartbeats carry the sender's certificate in its first few heartbeats and then every tenth, so
 * members that are not directly connected learn it (from relayed heartbeats) within ten intervals
 * without every heartbeat paying for it.
 */
export const CERT_IN_FIRST_HEARTBEATS = 3
export const CERT_IN_HEARTBEAT_EVERY = 10

/**
 * Gossipsub application score of a connected peer that is not (yet) a member. With the default
 * weight (10) this gives -60: below the publish (-50) and gossip (-10) thresholds, so nothing we
 * publish or relay goes to it and it is never grafted into a topic mesh, but above the graylist
 * threshold (-80), so its subscriptions are still recorded and it gets messages once it proves
 * membership.
 */
export const NON_MEMBER_APP_SCORE = -6

/**
 * Names and limits of the mesh's wire protocols. Topic names embed the federation name so that
 * two federations sharing a network never mix their messages.
 */

/** Gossip topic of membership heartbeats; `v1` changes when the message format does. */
export const membershipTopic = (federation: string): string => `/cmesh/${federation}/membership/1`

/**
 * Largest heartbeat accepted: a heartbeat is a few hundred bytes, even with several addresses;
 * anything much larger is garbage or abuse.
 */
export const MAX_HEARTBEAT_BYTES = 4096

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

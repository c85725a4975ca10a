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

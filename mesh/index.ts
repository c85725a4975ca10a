/**
 * The mesh: libp2p host, membership heartbeats and connection keeping for one domain node.
 *
 * ```ts
 * const mesh = new Mesh({ privateKey, log, getLoad, getApiUrl: () => url }, {
 *   domain: 'domain-a', fqdn: 'a.example', federation: 'continuum', members: [peerIdB],
 *   listen: ['/ip4/0.0.0.0/tcp/4001'], bootstrap: ['/ip4/10.0.0.2/tcp/4001/p2p/' + peerIdB], ...timings
 * })
 * await mesh.start()
 * mesh.membership.table() // [{ peerId, domain, state: 'alive' | 'suspect' | 'dead', rttMs, load, … }]
 * ```
 * Only members connect (a connection gater checks the proven peer id both ways) and only
 * members' heartbeats are accepted (a gossipsub topic validator); rejects are counted per peer.
 */
export { Mesh, type MeshComponents, type MeshInit, type MeshHost } from './mesh.ts'
export { AllowlistPolicy, membersOnlyGater } from './gater.ts'
export { ConnectionKeeper, type KeeperStatus } from './keeper.ts'
export { Membership } from './membership.ts'
export { createPubSub, TopicValidatorResult, type PubSub, type PubSubMessage } from './pubsub.ts'
export { membershipTopic, entitiesTopic, syncProtocol, forwardProtocol, MAX_GOSSIP_BYTES } from './constants.ts'
export { Replicator, lagBehind, type ReplicaStore, type ReplicationPolicy, type EnvelopeLike, type SignedEnvelopeLike, type PeerSyncState, type ReplicationStats } from './replication.ts'
export { rpcRequest, rpcHandle, MAX_RPC_BYTES } from './rpc.ts'
export { JsonFrames } from './framing.ts'
export { MeshError, NotMemberError } from './errors.ts'
export type {
  Heartbeat, LoadReport, MemberInfo, MemberState, MembershipPolicy, MeshEvents, StrangerInfo,
  MemberStateEvent, RejectEvent
} from './interface.ts'

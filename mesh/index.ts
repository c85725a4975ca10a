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
 *
 * Membership by certificate: with `certificates: { caCertPem, certPem }` in the init, a peer whose
 * domain certificate chains to the federation CA and names its peer id is a member too (the
 * allowlist keeps working alongside). Unknown peers may connect, get nothing and may use no
 * protocol until they present a valid certificate on `/cmesh/<federation>/cert/1.0.0`, and are
 * disconnected (counted as refused, with the reason) if they do not within 5 s.
 * ```ts
 * mesh.setRevocationList(list)        // from identity's createRevocationList; revoked peers are dropped and refused
 * mesh.certificateOf(peerId)          // { domain, fqdn, serial, notAfter, revoked, … } or null
 * ```
 */
export { Mesh, type MeshComponents, type MeshInit, type MeshHost } from './mesh.ts'
export { AllowlistPolicy, membersOnlyGater } from './gater.ts'
export { CertificatePolicy, type CertificatePolicyComponents, type CertificatePolicyInit, type CertificateCheck } from './certificates.ts'
export { CertificateExchange, type CertificateExchangeComponents, type CertificateExchangeInit } from './certificate-exchange.ts'
export { ConnectionKeeper, type KeeperStatus } from './keeper.ts'
export { Membership } from './membership.ts'
export { createPubSub, TopicValidatorResult, type PubSub, type PubSubMessage } from './pubsub.ts'
export { membershipTopic, entitiesTopic, syncProtocol, forwardProtocol, certificateProtocol, MAX_GOSSIP_BYTES, CERT_EXCHANGE_TIMEOUT_MS, SYNC_PAGE } from './constants.ts'
export { Replicator, lagBehind, type ReplicaStore, type ReplicationPolicy, type EnvelopeLike, type SignedEnvelopeLike, type PeerSyncState, type ReplicationStats } from './replication.ts'
export { rpcRequest, rpcHandle, MAX_RPC_BYTES } from './rpc.ts'
export { JsonFrames } from './framing.ts'
export { MeshError, NotMemberError, CertificateRefusedError, OwnCertificateError, NoCertificateAuthorityError } from './errors.ts'
export type {
  Heartbeat, LoadReport, MemberInfo, MemberState, MembershipPolicy, MeshEvents, StrangerInfo,
  MemberStateEvent, RejectEvent, CertifiedPeer, RevocationUpdate
} from './interface.ts'

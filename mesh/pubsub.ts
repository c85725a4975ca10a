/**
 * The one place that chooses the gossipsub implementation.
 *
 * We use `@libp2p/gossipsub`, the libp2p-3 line of ChainSafe's gossipsub. The ChainSafe package
 * `@chainsafe/libp2p-gossipsub@14` targets libp2p 2: with libp2p 3 it connects but never
 * subscribes peers (`multiaddr.tuples is not a function`) and every publish fails with
 * `NoPeersSubscribedToTopic`. To swap back, change the import below; the rest of the mesh only
 * sees the `PubSub` type exported here.
 */
import { gossipsub, StrictSign, TopicValidatorResult, type GossipSub, type Message } from '@libp2p/gossipsub'
import { NON_MEMBER_APP_SCORE } from './constants.ts'

export { TopicValidatorResult }
export type PubSub = GossipSub
export type PubSubMessage = Message

export interface PubSubInit {
  /** largest message data accepted from the wire, bytes (default 4 MiB) */
  maxMessageBytes?: number
  /**
   * federation membership; connected non-members (peers still proving membership by certificate)
   * then get nothing we publish or relay (default: every connected peer is treated as a member)
   */
  isMember?: (peerId: string) => boolean
}

/** Gossipsub with StrictSign: every message carries its author's peer id and signature. */
export function createPubSub (init: PubSubInit = {}): ReturnType<typeof gossipsub> {
  return gossipsub({
    globalSignaturePolicy: StrictSign,
    // A lone node (or the first of a federation) publishes before anyone listens: not an error.
    allowPublishToZeroTopicPeers: true,
    ignoreDuplicatePublishError: true,
    emitSelf: false,
    // Peer exchange would hand out addresses of peers we may not admit; membership comes from config.
    doPX: false,
    maxInboundDataLength: init.maxMessageBytes ?? 4 * 1024 * 1024,
    // Peer scores are cached for one gossipsub heartbeat (1 s): a peer that just proved membership
    // receives messages at most that much later.
    // Duplicates are recognised by their signature before they are validated again: without this,
    // every copy of a message a node receives through several neighbours is signature-checked.
    fastMsgIdFn: (msg) => msg.signature != null ? Buffer.from(msg.signature).toString('base64') : Buffer.from(msg.data ?? new Uint8Array()).toString('base64'),
    scoreParams: {
      // Members are authenticated peers; many of them on one address (a lab, a NAT, loopback) is
      // normal here, not a Sybil attack: without this, nodes with many local peers fall off the mesh.
      IPColocationFactorWeight: 0,
      ...(init.isMember != null
        ? { appSpecificScore: (peerId: string) => init.isMember?.(peerId) === true ? 0 : NON_MEMBER_APP_SCORE }
        : {})
    }
  })
}

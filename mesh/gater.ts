import type { ConnectionGater, PeerId } from '@libp2p/interface'
import type { MembershipPolicy } from './interface.ts'

/**
 * A connection gater that admits only federation members, in both directions: we neither dial a
 * non-member nor accept one, and the check runs once the encryption handshake has proven the
 * remote peer id (so it cannot be spoofed). `onRefused` is told about each refused peer.
 */
export function membersOnlyGater (policy: MembershipPolicy, onRefused: (peerId: PeerId) => void): ConnectionGater {
  const deny = (peerId: PeerId): boolean => {
    if (policy.isMember(peerId)) return false
    onRefused(peerId)
    return true
  }
  return {
    denyDialPeer: deny,
    denyInboundEncryptedConnection: deny,
    denyOutboundEncryptedConnection: deny
  }
}

/** The static allowlist from `federation.members`, plus this node itself. */
export class AllowlistPolicy implements MembershipPolicy {
  private readonly allowed: Set<string>

  constructor (self: PeerId | string, members: Iterable<string>) {
    this.allowed = new Set([self.toString(), ...members])
  }

  isMember (peerId: PeerId | string): boolean {
    return this.allowed.has(peerId.toString())
  }

  list (): string[] {
    return [...this.allowed]
  }
}

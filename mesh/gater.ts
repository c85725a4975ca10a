import type { ConnectionGater, PeerId } from '@libp2p/interface'
import type { MembershipPolicy } from './interface.ts'

/**
 * A connection gater that admits only federation members, in both directions: we neither dial a
 * non-member nor accept one, and the check runs once the encryption handshake has proven the
 * remote peer id (so it cannot be spoofed). A policy with `connectionRefusal` (certificates) may
 * admit peers that still have to prove membership on the connection. `onRefused` is told about
 * each refused peer and why.
 */
export function membersOnlyGater (policy: MembershipPolicy, onRefused: (peerId: PeerId, reason: string) => void): ConnectionGater {
  const deny = (peerId: PeerId): boolean => {
    const reason = policy.connectionRefusal != null
      ? policy.connectionRefusal(peerId)
      : policy.isMember(peerId) ? null : 'not a federation member'
    if (reason == null) return false
    onRefused(peerId, reason)
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

import type { Libp2p } from '@libp2p/interface'
import type { Logger } from 'pino'
import { NotMemberError } from './errors.ts'
import type { MembershipPolicy } from './interface.ts'

/**
 * Makes every protocol handler registered on `libp2p` from now on serve members only: a stream
 * from any other peer is aborted before the handler sees it.
 *
 * With a federation CA the gater admits unknown peers for a few seconds so that they can present
 * their certificate; in that time they must not reach request/response protocols (sync, write
 * forwarding, whatever comes next), and checking here means no handler can forget to. Install it
 * after libp2p has started: the handlers registered by then (identify, ping, gossipsub, the
 * certificate exchange) are the ones an unverified peer needs, and gossipsub guards itself with
 * topic validators and peer scores. (libp2p's own stream middleware would be the natural place,
 * but libp2p 3.3 appends the handler to the registered middleware array on every inbound stream.)
 */
export function membersOnlyHandlers (libp2p: Libp2p, policy: MembershipPolicy, log: Logger): void {
  const handle = libp2p.handle.bind(libp2p)
  libp2p.handle = async (protocol, handler, options) => {
    await handle(protocol, async (stream, connection) => {
      if (policy.isMember(connection.remotePeer)) {
        await handler(stream, connection)
        return
      }
      const peer = connection.remotePeer.toString()
      log.warn({ peer, protocol: stream.protocol }, 'refused a protocol stream from a peer that is not (yet) a member')
      stream.abort(new NotMemberError(peer))
    }, options)
  }
}

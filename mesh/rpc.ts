import type { Libp2p, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Logger } from 'pino'
import { JsonFrames } from './framing.ts'

/** Largest request or response of a request/response protocol: an NGSI-LD body is at most a few MiB. */
export const MAX_RPC_BYTES = 16 * 1024 * 1024

/**
 * One JSON request, one JSON response, over a fresh libp2p stream. Used for forwarding writes to
 * the domain that owns an entity.
 */
export async function rpcRequest<Req, Res> (libp2p: Libp2p, peer: string | PeerId, protocol: string, request: Req, opts: { signal: AbortSignal }): Promise<Res> {
  const stream = await libp2p.dialProtocol(typeof peer === 'string' ? peerIdFromString(peer) : peer, protocol, { signal: opts.signal })
  const frames = new JsonFrames(stream, MAX_RPC_BYTES)
  try {
    await frames.write(request, opts.signal)
    const { message } = await frames.read<Res>(opts.signal)
    await frames.close(opts.signal).catch(() => {})
    return message
  } catch (err) {
    frames.abort(err as Error)
    throw err
  }
}

/** Serves a request/response protocol: `handler` gets the request and the caller's peer id. */
export async function rpcHandle<Req, Res> (libp2p: Libp2p, protocol: string, log: Logger, handler: (request: Req, from: string) => Promise<Res>, opts: { timeoutMs: number }): Promise<void> {
  await libp2p.handle(protocol, async (stream, connection) => {
    const frames = new JsonFrames(stream, MAX_RPC_BYTES)
    const signal = AbortSignal.timeout(opts.timeoutMs)
    try {
      const { message } = await frames.read<Req>(signal)
      const response = await handler(message, connection.remotePeer.toString())
      await frames.write(response, signal)
      await frames.close(signal)
    } catch (err) {
      log.warn({ err, protocol, peer: connection.remotePeer.toString() }, 'request failed')
      frames.abort(err as Error)
    }
  })
}

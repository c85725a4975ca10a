import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'

/**
 * JSON messages over a libp2p stream, each length-prefixed (varint), with a size limit so that a
 * peer cannot make us buffer without bound.
 */
export class JsonFrames {
  private readonly lp: LengthPrefixedStream<Stream>
  readonly stream: Stream

  /**
   * @param maxBytes largest frame accepted
   * @param maxBuffered bytes that may arrive before they are read: the stream pushes what the
   *   sender writes, so a side that receives several frames in a row (an anti-entropy round) needs
   *   room for all of them; at least one frame
   */
  constructor (stream: Stream, maxBytes: number, maxBuffered = maxBytes) {
    this.stream = stream
    this.lp = lpStream(stream, { maxDataLength: maxBytes, maxBufferSize: Math.max(maxBytes, maxBuffered) + 64 * 1024 })
  }

  async write (message: unknown, signal?: AbortSignal): Promise<number> {
    return await this.writeRaw(JSON.stringify(message), signal)
  }

  /** Writes a message already serialised as JSON (the caller vouches that it is). */
  async writeRaw (json: string, signal?: AbortSignal): Promise<number> {
    const bytes = Buffer.from(json)
    await this.lp.write(bytes, { signal })
    return bytes.byteLength
  }

  async read<T> (signal?: AbortSignal): Promise<{ message: T, bytes: number }> {
    const list = await this.lp.read({ signal })
    const bytes = list.subarray()
    return { message: JSON.parse(new TextDecoder().decode(bytes)) as T, bytes: bytes.byteLength }
  }

  async close (signal?: AbortSignal): Promise<void> {
    await this.stream.close({ signal })
  }

  abort (err: Error): void {
    this.stream.abort(err)
  }
}

import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'

/**
 * JSON messages over a libp2p stream, each length-prefixed (varint), with a size limit so that a
 * peer cannot make us buffer without bound.
 */
export class JsonFrames {
  private readonly lp: LengthPrefixedStream<Stream>
  readonly stream: Stream

  constructor (stream: Stream, maxBytes: number) {
    this.stream = stream
    // The read buffer must hold a whole frame (its default, 4 MiB, is below our largest frames).
    this.lp = lpStream(stream, { maxDataLength: maxBytes, maxBufferSize: maxBytes + 64 * 1024 })
  }

  async write (message: unknown, signal?: AbortSignal): Promise<number> {
    const bytes = new TextEncoder().encode(JSON.stringify(message))
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

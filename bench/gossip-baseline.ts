/**
 * Raw gossipsub baseline: three processes in a line A–B–C on loopback (A and C are not
 * connected; B relays). Measures A→C latency over sequential 1 KB messages and sustained
 * messages/s with a send window (publish() resolving is not delivery, so A waits for C's
 * acknowledgements to keep at most `window` messages in flight).
 */
import { spawnTs, percentile, round, type Proc } from './lib/procs.ts'

export interface Figure { name: string, value: number, unit: string, [k: string]: unknown }

export interface GossipBaselineOptions {
  messages?: number
  size?: number
  floodMs?: number
  window?: number
}

/**
 * A raw gossipsub line A–B–C (three gossip-peer processes, A and C not connected), subscribed and
 * ready. `probe()` publishes one message of `size` bytes at A and resolves with its A→C latency
 * in ms (clocks of the same machine); messages are numbered 1, 2, 3, …
 */
export interface RawLine {
  peers: Proc[]
  probe: () => Promise<number>
  stop: () => Promise<void>
}

export async function startRawLine (size = 1024): Promise<RawLine> {
  const peers = ['A', 'B', 'C'].map(() => spawnTs('bench/lib/gossip-peer.ts'))
  const [a, b, c] = peers
  const stop = async (): Promise<void> => { await Promise.all(peers.map(async p => { await p.stop() })) }
  try {
    const [, addrB] = await Promise.all(peers.map(async p => (await p.next<{ addr: string }>(m => m.evt === 'ready')).addr))
    a.send({ cmd: 'dial', addr: addrB })
    c.send({ cmd: 'dial', addr: addrB })
    await Promise.all([a.next(m => m.evt === 'dialled'), c.next(m => m.evt === 'dialled')])
    b.send({ cmd: 'wait-subscribers', count: 2 })
    a.send({ cmd: 'wait-subscribers', count: 1 })
    c.send({ cmd: 'wait-subscribers', count: 1 })
    await Promise.all(peers.map(async p => await p.next(m => m.evt === 'subscribed')))
  } catch (err) {
    await stop()
    throw err
  }
  let sent = 0
  return {
    peers,
    probe: async () => {
      const n = ++sent
      const got = c.next<{ at: number, sentAt: number }>(m => m.evt === 'recv' && m.n === n, 10_000)
      a.send({ cmd: 'send', count: n, size })
      const m = await got
      return m.at - m.sentAt
    },
    stop
  }
}

export async function gossipBaseline (opts: GossipBaselineOptions = {}): Promise<Figure[]> {
  const messages = opts.messages ?? 200
  const size = opts.size ?? 1024
  const floodMs = opts.floodMs ?? 5000
  const window = opts.window ?? 256
  const line = await startRawLine(size)
  const [a, , c] = line.peers
  try {
    // Latency: one message at a time, the next once C has it.
    const latencies: number[] = []
    for (let i = 1; i <= messages; i++) latencies.push(await line.probe())
    latencies.sort((x, y) => x - y)

    // Throughput: A floods with at most `window` messages not yet seen by C.
    const ackEvery = 8
    c.send({ cmd: 'report-every', count: ackEvery })
    await c.next(m => m.evt === 'reporting')
    let receivedAtC = 0
    c.on(m => {
      if (m.evt !== 'recv') return
      receivedAtC = Number(m.received) - messages
      a.send({ cmd: 'ack', upTo: m.n })
    })
    const before = receivedAtC
    const started = performance.now()
    a.send({ cmd: 'flood', ms: floodMs, size, window })
    const flooded = await a.next<{ sent: number }>(m => m.evt === 'flooded', floodMs + 30_000)
    // Let the last window drain, then count what C received in the whole period.
    const deadline = Date.now() + 3000
    while (receivedAtC - before < flooded.sent - ackEvery && Date.now() < deadline) await new Promise(r => setTimeout(r, 20))
    const elapsedS = (performance.now() - started) / 1000
    const delivered = receivedAtC - before
    const common = { topology: 'line A-B-C, 3 processes, loopback', size, signed: 'StrictSign' }
    return [
      { name: 'gossip.raw.latency.p50', value: round(percentile(latencies, 50), 3), unit: 'ms', messages, ...common },
      { name: 'gossip.raw.latency.p99', value: round(percentile(latencies, 99), 3), unit: 'ms', messages, ...common },
      { name: 'gossip.raw.throughput', value: Math.round(delivered / elapsedS), unit: 'msg/s', window, sent: flooded.sent, delivered, seconds: round(elapsedS), ...common }
    ]
  } finally {
    await line.stop()
  }
}

/**
 * One raw libp2p + gossipsub peer in its own process, driven by its parent over IPC. It uses the
 * same stack as the mesh (TCP, Noise, Yamux, @libp2p/gossipsub with StrictSign) but none of our
 * code on top, so that its figures are the floor our replication is compared against.
 *
 * Parent → child: {cmd:'dial', addr} | {cmd:'latency', count, size} | {cmd:'flood', ms, size, window}
 *                 | {cmd:'ack', upTo} | {cmd:'stop'}
 * Child → parent: {evt:'ready', addr} | {evt:'subscribed'} | {evt:'recv', n, at, sentAt}
 *                 | {evt:'done', ...figures}
 */
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { createPubSub, type PubSub } from '../../mesh/index.ts'

const TOPIC = 'bench'
const send = (m: unknown): void => { process.send?.(m) }
const now = (): number => performance.timeOrigin + performance.now()

const node = await createLibp2p({
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: { identify: identify(), pubsub: createPubSub() }
})
const pubsub = (node.services as { pubsub: PubSub }).pubsub
pubsub.subscribe(TOPIC)

let received = 0
/** report every Nth receipt only (1 while measuring latency; more while flooding, to keep IPC cheap) */
let reportEvery = 1
let ackedUpTo = 0
let wake: (() => void) | null = null

pubsub.addEventListener('message', (evt) => {
  if (evt.detail.topic !== TOPIC) return
  const data = evt.detail.data
  const sentAt = new DataView(data.buffer, data.byteOffset).getFloat64(0)
  const n = new DataView(data.buffer, data.byteOffset).getUint32(8)
  received++
  if (received % reportEvery === 0) send({ evt: 'recv', n, at: now(), sentAt, received })
})

function payload (n: number, size: number): Uint8Array {
  const buf = new Uint8Array(size)
  const view = new DataView(buf.buffer)
  view.setFloat64(0, now())
  view.setUint32(8, n)
  return buf
}

process.on('message', (msg: { cmd: string, addr?: string, count?: number, size?: number, ms?: number, window?: number, upTo?: number }) => {
  void (async () => {
    switch (msg.cmd) {
      case 'dial': {
        await node.dial((await import('@multiformats/multiaddr')).multiaddr(msg.addr as string))
        send({ evt: 'dialled' })
        break
      }
      case 'wait-subscribers': {
        while (pubsub.getSubscribers(TOPIC).length < (msg.count ?? 1)) await new Promise(r => setTimeout(r, 20))
        // Let gossipsub graft the mesh (heartbeat is 1 s) before measuring.
        await new Promise(r => setTimeout(r, 1500))
        send({ evt: 'subscribed' })
        break
      }
      case 'send': {
        await pubsub.publish(TOPIC, payload(msg.count ?? 0, msg.size ?? 1024))
        break
      }
      case 'report-every': {
        reportEvery = msg.count ?? 1
        send({ evt: 'reporting' })
        break
      }
      case 'ack': {
        ackedUpTo = Math.max(ackedUpTo, msg.upTo ?? 0)
        wake?.()
        break
      }
      case 'flood': {
        const size = msg.size ?? 1024
        const window = msg.window ?? 64
        const end = Date.now() + (msg.ms ?? 5000)
        let sent = 0
        while (Date.now() < end) {
          if (sent - ackedUpTo >= window) {
            await new Promise<void>(resolve => { wake = resolve; setTimeout(resolve, 50) })
            wake = null
            continue
          }
          await pubsub.publish(TOPIC, payload(++sent, size))
        }
        send({ evt: 'flooded', sent })
        break
      }
      case 'stop': {
        await node.stop()
        process.exit(0)
      }
    }
  })().catch((err: Error) => { send({ evt: 'error', message: err.message }); process.exit(1) })
})

send({ evt: 'ready', addr: node.getMultiaddrs()[0].toString() })

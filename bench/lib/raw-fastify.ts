/**
 * The raw HTTP baseline: fastify with one GET route answering a small JSON entity through a
 * response schema, nothing else. Prints its port on stdout.
 */
import Fastify from 'fastify'

const app = Fastify({ logger: false })
const body = {
  id: 'urn:ngsi-ld:Room:1',
  type: 'Room',
  temperature: { type: 'Property', value: 21.5, unitCode: 'CEL' },
  name: { type: 'Property', value: 'room 1' }
}
app.get('/raw', {
  schema: {
    response: {
      200: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          type: { type: 'string' },
          temperature: { type: 'object', additionalProperties: true },
          name: { type: 'object', additionalProperties: true }
        }
      }
    }
  }
}, async () => body)
await app.listen({ host: '127.0.0.1', port: 0 })
const addr = app.server.address()
process.stdout.write(`${typeof addr === 'object' && addr != null ? addr.port : 0}\n`)
process.on('SIGTERM', () => { void app.close().then(() => process.exit(0)) })

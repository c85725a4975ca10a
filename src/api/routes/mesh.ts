import { Type } from 'typebox'
import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { ApiComponents } from '../interface.ts'

import type { TSchema } from 'typebox'

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()])

const Load = Type.Object({
  cpu: Type.Number({ description: 'machine CPU in use, 0..1' }),
  memory: Type.Number({ description: 'machine memory in use, 0..1' }),
  rssBytes: Type.Number(),
  eventLoopLagMs: Type.Number()
})

const Member = Type.Object({
  peerId: Type.String(),
  self: Type.Boolean(),
  state: Type.Union([Type.Literal('alive'), Type.Literal('suspect'), Type.Literal('dead')]),
  domain: Nullable(Type.String()),
  fqdn: Nullable(Type.String()),
  apiUrl: Nullable(Type.String()),
  addrs: Type.Array(Type.String()),
  load: Nullable(Load),
  lastSeen: Nullable(Type.String({ format: 'date-time' })),
  stateSince: Type.String({ format: 'date-time' }),
  heartbeats: Type.Integer(),
  rttMs: Nullable(Type.Number()),
  connected: Type.Boolean(),
  rejects: Type.Integer({ description: 'gossip messages from this member that were rejected' })
})

const Stranger = Type.Object({
  peerId: Type.String(),
  refusedConnections: Type.Integer(),
  rejects: Type.Integer(),
  lastSeen: Type.String({ format: 'date-time' })
})

const Dial = Type.Object({
  peerId: Type.String(),
  permanent: Type.Boolean({ description: 'true for bootstrap peers (kept for ever)' }),
  connected: Type.Boolean(),
  failures: Type.Integer({ description: 'dial failures since the last success' }),
  lastError: Nullable(Type.String()),
  nextDialAt: Nullable(Type.String({ format: 'date-time' }))
})

const Peers = Type.Object({
  self: Type.String({ description: 'this node\'s peer id' }),
  members: Type.Array(Member, { description: 'the membership table, this node first' }),
  strangers: Type.Array(Stranger, { description: 'peers outside the federation that were refused' }),
  dialing: Type.Array(Dial, { description: 'peers this node keeps connected' })
})

export const meshRoutes: FastifyPluginAsync<{ components: ApiComponents }> = async (fastify, { components }) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  app.get('/peers', {
    schema: {
      tags: ['mesh'],
      summary: 'The membership table: each member\'s state, last heartbeat, load and round-trip time',
      response: { 200: Peers }
    }
  }, async () => ({
    self: components.info().peerId,
    members: components.mesh.table(),
    strangers: components.mesh.strangers(),
    dialing: components.mesh.dialStatus()
  }))
}

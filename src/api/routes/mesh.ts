import { Type } from 'typebox'
import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { ApiComponents } from '../interface.ts'
import { NotFoundError } from '../../errors.ts'

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
  rejects: Type.Integer({ description: 'gossip messages from this member that were rejected' }),
  sync: Type.Optional(Type.Object({
    state: Type.Union([Type.Literal('idle'), Type.Literal('syncing'), Type.Literal('error')]),
    lastSync: Nullable(Type.String({ format: 'date-time' })),
    lastError: Nullable(Type.String()),
    received: Type.Integer({ description: 'envelopes received from this peer by anti-entropy' }),
    lag: Type.Integer({ description: 'changes this node lacks compared with the peer (by its last heartbeat)' })
  }, { description: 'anti-entropy with this member' }))
})

const Stranger = Type.Object({
  peerId: Type.String(),
  refusedConnections: Type.Integer(),
  rejects: Type.Integer(),
  lastReason: Type.Optional(Type.String({ description: 'why it was last refused or rejected' })),
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
  dialing: Type.Array(Dial, { description: 'peers this node keeps connected' }),
  replication: Type.Optional(Type.Object({
    published: Type.Integer({ description: 'gossip messages of changes published' }),
    publishedEnvelopes: Type.Integer(),
    dropped: Type.Integer({ description: 'local envelopes dropped from the gossip queue (anti-entropy delivers them)' }),
    notGossiped: Type.Integer({ description: 'local envelopes too large for one gossip message (anti-entropy delivers them)' }),
    unsent: Type.Integer({ description: 'local envelopes not gossiped because no peer was subscribed (anti-entropy delivers them)' }),
    gossipApplied: Type.Integer({ description: 'changes applied from gossip' }),
    syncApplied: Type.Integer({ description: 'changes applied from anti-entropy' }),
    rejected: Type.Integer({ description: 'envelopes or messages rejected (forged, malformed, not allowed)' }),
    replays: Type.Integer({ description: 'envelopes received again by gossip (replays)' }),
    waited: Type.Integer({ description: 'envelopes that changed an entity not held here and waited for it to arrive before being judged' }),
    waitExpired: Type.Integer({ description: 'waiting envelopes judged without their entity after replication.waitTimeoutMs' }),
    waiting: Type.Integer({ description: 'envelopes waiting now' }),
    waitingBytes: Type.Integer({ description: 'bytes of the envelopes waiting now (signed JSON; bounded by replication.maxWaitingBytes)' }),
    syncRounds: Type.Integer({ description: 'anti-entropy rounds pulled from peers (each brings at most replication.syncRoundBytes)' })
  }))
})

const Digest = Type.Object({
  entities: Type.Integer(),
  entityHash: Type.String({ description: 'XOR of the SHA-256 of every live entity\'s canonical JSON (sorted keys), kept up to date entity by entity; compare it between nodes of the same version' }),
  versionVector: Type.Record(Type.String(), Type.Integer(), { description: 'per origin domain: changes received without gaps' }),
  computedAt: Type.String({ format: 'date-time' })
})

export const meshRoutes: FastifyPluginAsync<{ components: ApiComponents }> = async (fastify, { components }) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  app.get('/peers', {
    config: { auth: { role: 'viewer' } },
    schema: {
      tags: ['mesh'],
      summary: 'The membership table: each member\'s state, last heartbeat, load and round-trip time',
      response: { 200: Peers }
    }
  }, async () => {
    const sync = new Map((components.mesh.syncState?.() ?? []).map(s => [s.peerId, s]))
    const stats = components.mesh.replication?.()
    return {
      self: components.info().peerId,
      members: components.mesh.table().map(m => {
        const s = sync.get(m.peerId)
        return s == null ? m : { ...m, sync: { state: s.state, lastSync: s.lastSync, lastError: s.lastError, received: s.received, lag: s.lag } }
      }),
      strangers: components.mesh.strangers(),
      dialing: components.mesh.dialStatus(),
      ...(stats != null ? { replication: stats } : {})
    }
  })

  app.get('/digest', {
    config: { auth: { role: 'viewer' } },
    schema: {
      tags: ['mesh'],
      summary: 'A hash of this domain\'s entity state and its version vector: equal hashes mean equal data',
      response: { 200: Digest }
    }
  }, async () => {
    if (components.mesh.digest == null) throw new NotFoundError('replication (and with it the digest)')
    return await components.mesh.digest()
  })
}

/**
 * The node's configuration: one JSON schema (TypeBox, validated with ajv), the TypeScript type
 * derived from it, and the defaults in one exported object.
 */
import { Type, type Static } from 'typebox'

const Multiaddr = Type.String({ format: 'multiaddr', description: 'a libp2p multiaddr, e.g. /ip4/0.0.0.0/tcp/4001' })
const PeerMultiaddr = Type.String({
  format: 'multiaddr-p2p',
  description: 'a multiaddr that ends in /p2p/<peer id>, e.g. /ip4/10.0.0.2/tcp/4001/p2p/12D3KooW…'
})
const PeerId = Type.String({ format: 'peer-id', description: 'a libp2p peer id (12D3KooW… for Ed25519 keys)' })
const Millis = (description: string, minimum = 10): ReturnType<typeof Type.Integer> =>
  Type.Integer({ minimum, maximum: 86_400_000, description })

export const ConfigSchema = Type.Object({
  domain: Type.Object({
    name: Type.String({
      pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$',
      description: 'the domain\'s short name: lower-case letters, digits and dashes (a DNS label)'
    }),
    fqdn: Type.String({ format: 'hostname', description: 'the domain\'s fully qualified domain name' })
  }, { additionalProperties: false }),
  dataDir: Type.String({ minLength: 1, description: 'where the node keeps its key and database; relative paths are relative to the working directory' }),
  api: Type.Object({
    host: Type.String({ minLength: 1, description: 'address the REST API listens on' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, description: 'port of the REST API (0 = any free port)' }),
    publicUrl: Type.Optional(Type.String({ format: 'uri', description: 'URL other domains and users reach this API at (default http://host:port)' })),
    bodyLimit: Type.Integer({ minimum: 1024, maximum: 1073741824, description: 'largest request body accepted, in bytes' })
  }, { additionalProperties: false }),
  mesh: Type.Object({
    listen: Type.Array(Multiaddr, { minItems: 1, description: 'libp2p listen addresses' }),
    announce: Type.Array(Multiaddr, { description: 'addresses to announce instead of the listen addresses (behind NAT)' }),
    bootstrap: Type.Array(PeerMultiaddr, { description: 'peers to dial at start and keep dialling' }),
    heartbeatIntervalMs: Millis('how often this node publishes its membership heartbeat'),
    suspectAfterMs: Millis('a member with no heartbeat for this long is suspect'),
    deadAfterMs: Millis('a member with no heartbeat for this long is dead'),
    pingIntervalMs: Millis('how often connected members are pinged for their round-trip time'),
    redialInitialMs: Millis('first delay before redialling an unreachable bootstrap peer'),
    redialMaxMs: Millis('longest delay between redials of an unreachable bootstrap peer'),
    connectToMembers: Type.Boolean({ description: 'dial members learnt from heartbeats, not only bootstrap peers' })
  }, { additionalProperties: false }),
  federation: Type.Object({
    name: Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$', description: 'the federation\'s name; it names the gossip topics' }),
    members: Type.Array(PeerId, { description: 'peer ids allowed in the federation (this node is always allowed)' })
  }, { additionalProperties: false }),
  ngsi: Type.Object({
    defaultLimit: Type.Integer({ minimum: 1, maximum: 10_000, description: 'page size of queries that give no limit' }),
    maxLimit: Type.Integer({ minimum: 1, maximum: 100_000, description: 'largest page; a larger limit is TooManyResults (403)' }),
    cacheSize: Type.Integer({ minimum: 0, maximum: 10_000_000, description: 'entities kept parsed in memory' }),
    recordCacheSize: Type.Integer({ minimum: 1, maximum: 10_000_000, description: 'replicated records (registers with stamps) kept parsed in memory for writes' }),
    sync: Type.Boolean({ description: 'fsync every group commit (a write is on disk when the API answers)' }),
    contexts: Type.Object({
      local: Type.Record(Type.String(), Type.String(), { description: '@context URL → local file, served without network' }),
      preloadDir: Type.Optional(Type.String({ description: 'directory of preloaded @context documents (see README)' })),
      allowRemote: Type.Boolean({ description: 'fetch @context URLs that no local source serves' }),
      timeoutMs: Type.Integer({ minimum: 100, maximum: 120_000, description: 'time limit of one @context fetch' })
    }, { additionalProperties: false })
  }, { additionalProperties: false }),
  auth: Type.Object({
    mode: Type.Union([Type.Literal('enabled'), Type.Literal('disabled')], {
      description: 'disabled: every request acts as admin — for local experiments only, logged loudly and shown in /health'
    }),
    directory: Type.Union([
      Type.Object({
        type: Type.Literal('embedded'),
        file: Type.Optional(Type.String({ description: 'users file (default <dataDir>/users.json); manage with `cmesh user`' }))
      }, { additionalProperties: false }),
      Type.Object({
        type: Type.Literal('ldap'),
        url: Type.String({ pattern: '^ldaps?://', description: 'ldap://host:port or ldaps://host:port' }),
        bindDN: Type.Optional(Type.String()),
        bindPasswordFile: Type.Optional(Type.String({ description: 'file holding the service account password (keeps it out of the config)' })),
        userBase: Type.String(),
        userFilter: Type.Optional(Type.String()),
        groupBase: Type.Optional(Type.String()),
        groupFilter: Type.Optional(Type.String()),
        groupNameAttribute: Type.Optional(Type.String()),
        timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 60_000 }))
      }, { additionalProperties: false })
    ]),
    roleMapping: Type.Record(Type.String(), Type.Array(Type.Union([Type.Literal('viewer'), Type.Literal('deployer'), Type.Literal('operator'), Type.Literal('admin')])), {
      description: 'directory group → roles it grants'
    }),
    tokenTtlSeconds: Type.Integer({ minimum: 30, maximum: 86_400 }),
    refreshTtlSeconds: Type.Integer({ minimum: 60, maximum: 30 * 86_400 }),
    loginRateLimit: Type.Integer({ minimum: 1, maximum: 100_000, description: 'token requests per minute per client address' })
  }, { additionalProperties: false }),
  replication: Type.Object({
    ownedTypes: Type.Array(Type.String({ minLength: 1 }), { description: 'entity types that only their own domain may write (terms of the core context, or IRIs)' }),
    ownerInId: Type.Boolean({ description: 'entities of owned types whose id has the aerOS form urn:ngsi-ld:<Type>:<domain>:<local id> belong to <domain>, whatever they hold (ownership then never depends on which creation arrives first)' }),
    syncIntervalMs: Millis('how often to pull missing changes from peers that are ahead (anti-entropy)'),
    publishDelayMs: Type.Integer({ minimum: 0, maximum: 10_000, description: 'longest delay before local changes are gossiped, ms (batching)' }),
    forwardTimeoutMs: Millis('time limit of a write forwarded to the owning domain', 100),
    recoveryTimeoutMs: Millis('after an unclean shutdown, how long to look for this domain\'s own lost changes at peers before skipping them', 100),
    maxWaiting: Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'received envelopes that may wait for their entity at once (and at most maxWaitingBytes of them); beyond that the oldest are dropped unmarked, and anti-entropy brings them again' }),
    maxWaitingBytes: Type.Integer({ minimum: 1024, maximum: 4 * 1024 * 1024 * 1024, description: 'bytes of received envelopes (their signed JSON) that may wait for their entity at once; beyond that the oldest are dropped as with maxWaiting' }),
    syncRoundBytes: Type.Integer({ minimum: 1, maximum: 32 * 1024 * 1024, description: 'what one anti-entropy round from a peer may bring at most, bytes (the peer stops after the frame of envelopes that crosses it); this node buffers up to this plus two 8 MiB frames while it applies' }),
    waitTimeoutMs: Millis('how long a received change to an entity this domain does not hold yet waits for the entity (its creation decides who may write it) before it is judged without it', 100),
    retentionMs: Type.Integer({ minimum: 1000, description: 'how long change-log envelopes and tombstones are kept; a domain away longer catches up from a snapshot' }),
    compactIntervalMs: Millis('how often the change log and tombstones are compacted', 1000)
  }, { additionalProperties: false }),
  log: Type.Object({
    level: Type.Union([
      Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'),
      Type.Literal('debug'), Type.Literal('trace'), Type.Literal('silent')
    ]),
    format: Type.Union([Type.Literal('auto'), Type.Literal('json'), Type.Literal('pretty')], {
      description: 'auto: readable on a terminal, JSON otherwise'
    })
  }, { additionalProperties: false })
}, { additionalProperties: false })

export type NodeConfig = Static<typeof ConfigSchema>

/** What a config file may leave out: everything but the domain's name. */
export type NodeConfigInput = {
  [K in keyof NodeConfig]?: NodeConfig[K] extends Array<unknown> ? NodeConfig[K] : Partial<NodeConfig[K]> | NodeConfig[K]
}

/**
 * Every default in one place. A config file overrides these key by key (objects are merged,
 * arrays replaced).
 */
export const DEFAULT_CONFIG: NodeConfig = {
  domain: { name: 'domain-a', fqdn: 'domain-a.continuum.local' },
  dataDir: '.cmesh/default',
  api: {
    host: '127.0.0.1',
    // 1026 is the port NGSI-LD context brokers use by convention (Orion-LD, Scorpio, Stellio).
    port: 1026,
    // 1 MiB, the NGSI-LD brokers' usual request cap; larger bodies get 413.
    bodyLimit: 1024 * 1024
  },
  mesh: {
    listen: ['/ip4/127.0.0.1/tcp/4001'],
    announce: [],
    bootstrap: [],
    heartbeatIntervalMs: 1000,
    // Three missed heartbeats: one late or lost message must not flap a member.
    suspectAfterMs: 3500,
    // Ten missed heartbeats: long enough to ride out a GC pause or a brief partition.
    deadAfterMs: 10_000,
    pingIntervalMs: 5000,
    redialInitialMs: 250,
    redialMaxMs: 30_000,
    connectToMembers: true
  },
  federation: { name: 'continuum', members: [] },
  ngsi: {
    // NGSI-LD's default page size (clause 6.3.10).
    defaultLimit: 20,
    maxLimit: 1000,
    // Parsed entities in memory (~1 KiB each): 100 MiB or so buys queries without disk reads.
    cacheSize: 100_000,
    // Records (with every register's stamp) that writes merge into; a write to one not held reads it.
    recordCacheSize: 10_000,
    sync: true,
    contexts: { local: {}, allowRemote: true, timeoutMs: 5000 }
  },
  auth: {
    mode: 'enabled',
    directory: { type: 'embedded' },
    // A group named like a role grants it (see identity/roles.ts; aerOS names: README).
    roleMapping: { viewer: ['viewer'], deployer: ['deployer'], operator: ['operator'], admin: ['admin'] },
    // Short-lived access tokens: a token cannot be recalled, so it should not outlive its use for long.
    tokenTtlSeconds: 900,
    refreshTtlSeconds: 8 * 3600,
    // Enough for people and scripts; slows password guessing to a crawl.
    loginRateLimit: 20
  },
  replication: {
    ownedTypes: ['Domain', 'InfrastructureElement', 'LowLevelOrchestrator'],
    // Off: ids need not follow the aerOS form, and an id such as
    // urn:ngsi-ld:InfrastructureElement:rack-1:node-7 must not be read as belonging to "rack-1".
    ownerInId: false,
    syncIntervalMs: 2000,
    // A few ms of batching turns a burst of writes into one signed gossip message.
    publishDelayMs: 5,
    forwardTimeoutMs: 10_000,
    // Long enough for the bootstrap peers to connect and be asked; a peer that holds a lost change
    // and comes later keeps it while the others skip it (see README, "Crash safety").
    recoveryTimeoutMs: 30_000,
    // Anti-entropy brings a missing creation within a few sync intervals, even from a domain that
    // was away; a change still waiting after this is judged as things stand.
    waitTimeoutMs: 60_000,
    maxWaiting: 10_000,
    maxWaitingBytes: 64 * 1024 * 1024,
    syncRoundBytes: 32 * 1024 * 1024,
    // A week: longer than any partition we expect to ride out with the log alone.
    retentionMs: 7 * 24 * 3600 * 1000,
    compactIntervalMs: 3600 * 1000
  },
  log: { level: 'info', format: 'auto' }
}

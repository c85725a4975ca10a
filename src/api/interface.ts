import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { KeeperStatus, MemberInfo, PeerSyncState, ReplicationStats, StrangerInfo } from '../../mesh/index.ts'

/** What the API needs to know about the node; the node passes itself in (see src/node.ts). */
export interface NodeInfo {
  domain: string
  fqdn: string
  federation: string
  peerId: string
  version: string
  startedAt: number
  apiUrl: string
  multiaddrs: string[]
  /** 'disabled' only for local experiments (every caller is admin) */
  authMode: 'enabled' | 'disabled'
  tls: boolean
}

export interface MeshView {
  table(): MemberInfo[]
  strangers(): StrangerInfo[]
  dialStatus(): KeeperStatus[]
  /** anti-entropy state per peer (absent without replication) */
  syncState?(): PeerSyncState[]
  replication?(): ReplicationStats | null
  /** hash of the entity state and the version vector */
  digest?(): Promise<{ entities: number, entityHash: string, versionVector: Record<string, number>, computedAt: string }>
}

export interface ApiComponents {
  log: Logger
  info(): NodeInfo
  mesh: MeshView
  /** further API areas (NGSI-LD, auth, …), registered after the built-in ones */
  plugins?: Array<(app: FastifyInstance<any, any, any, any, any>) => Promise<void>>
  /** methods allowed on a path, to answer 405 rather than 404 */
  allowedMethods?: (path: string) => string[] | null
}

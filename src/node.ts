/**
 * The composition root: the one place that knows every subsystem and wires them together.
 * Services start in dependency order (storage → mesh → API) and stop in reverse.
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Level } from 'level'
import {
  createSigner, exportPublicKey, loadOrCreateDomainKey, readDomainCertificate, EmbeddedDirectory, LdapDirectory,
  USERS_FILE_NAME, type Directory, type RevocationList
} from '../identity/index.ts'
import { readFile } from 'node:fs/promises'
import { Mesh } from '../mesh/index.ts'
import { createApi, type Api, type NodeInfo } from './api/index.ts'
import type { RouteEntry } from './auth/plugin.ts'
import { AuthService } from './auth/service.ts'
import { authRoutes } from './auth/routes.ts'
import { publishDomainEntity } from './domain-entity.ts'
import { DOCUMENT_ATTR, isValidRevocationList, REVOCATION_TYPE, Revocations, revocationRoutes } from './revocations.ts'
import { bootstrapMembershipIssues, type NodeConfig } from './config/index.ts'
import { CmeshError, ConfigError } from './errors.ts'
import { createLogger, type Logger } from './log.ts'
import { LoadSampler } from './observability/index.ts'
import { VERSION } from './version.ts'
import { EntityStore } from './ngsi/store/index.ts'
import { NgsiService } from './ngsi/service.ts'
import { ContextResolver } from './ngsi/context/index.ts'
import { mergeAttribute } from './ngsi/entity/index.ts'
import { ngsiApi, allowedMethods } from './ngsi/api/index.ts'
import { SubscriptionManager } from './ngsi/subscriptions/index.ts'
import { newPolicyBatch, WritePolicy, type PolicyBatch } from './ngsi/policy.ts'
import { DEFAULT_VOCAB } from './ngsi/types.ts'
import { formatHlc, type Envelope } from './ngsi/store/index.ts'
import { NodeFederation } from './federation.ts'

/** Where the NGSI-LD API is mounted (clause 6.1 of the spec names it). */
export const NGSI_PREFIX = '/ngsi-ld/v1'

export interface NodeOptions {
  /** default: a logger built from `config.log` */
  logger?: Logger
  /**
   * The data directory was restored from an older copy (`cmesh node --restored`): this domain's
   * own changes made after the copy come back from peers, and numbering jumps past them.
   */
  restored?: boolean
}

export class ContinuumNode {
  readonly config: NodeConfig
  readonly log: Logger
  private db?: Level<string, string>
  private meshService?: Mesh
  private api?: Api
  private entityStore?: EntityStore
  private ngsiService?: NgsiService
  private contexts?: ContextResolver
  private subscriptionManager?: SubscriptionManager
  private federationGlue?: NodeFederation
  private authService?: AuthService
  private routeTable: RouteEntry[] = []
  private compactTimer?: NodeJS.Timeout
  private revocations?: Revocations
  private compacting?: Promise<unknown>
  private tls = false
  private readonly load = new LoadSampler()
  private startedAt = 0
  private boundApiUrl = ''
  private stopping?: Promise<void>

  private readonly restored: boolean

  constructor (config: NodeConfig, options: NodeOptions = {}) {
    this.config = config
    this.restored = options.restored === true
    this.log = options.logger ?? createLogger({ level: config.log.level, format: config.log.format })
  }

  get mesh (): Mesh {
    if (this.meshService == null) throw new Error('node not started')
    return this.meshService
  }

  get ngsi (): NgsiService {
    if (this.ngsiService == null) throw new Error('node not started')
    return this.ngsiService
  }

  get subscriptions (): SubscriptionManager {
    if (this.subscriptionManager == null) throw new Error('node not started')
    return this.subscriptionManager
  }

  get peerId (): string {
    return this.mesh.peerId.toString()
  }

  /** The URL of the REST API, as other domains and users should reach it. */
  get apiUrl (): string {
    return this.config.api.publicUrl ?? this.boundApiUrl
  }

  info (): NodeInfo {
    return {
      domain: this.config.domain.name,
      fqdn: this.config.domain.fqdn,
      federation: this.config.federation.name,
      peerId: this.peerId,
      version: VERSION,
      startedAt: this.startedAt,
      apiUrl: this.apiUrl,
      multiaddrs: this.mesh.multiaddrs(),
      authMode: this.config.auth.mode,
      tls: this.tls
    }
  }

  /**
   * Compacts the change log and tombstones older than the retention (runs periodically; tests
   * call it with a shorter retention). Returns what was dropped.
   */
  async compactNow (retentionMs = this.config.replication.retentionMs): Promise<{ envelopes: number, records: number }> {
    const run = this.ngsi.store.compact(formatHlc(Date.now() - retentionMs, 0))
    this.compacting = run.catch(() => {})
    return await run
  }

  /** Every REST route with its declared access rule (for audits and the RBAC test sweep). */
  routes (): RouteEntry[] {
    return this.routeTable
  }

  /** Authentication (null when auth.mode is disabled). */
  get auth (): AuthService | null {
    return this.authService ?? null
  }

  /** The user directory the config names: the embedded file (default) or LDAP. */
  private async directory (): Promise<Directory> {
    const d = this.config.auth.directory
    const logger = this.log.child({ component: 'auth:directory' })
    if (d.type === 'embedded') return new EmbeddedDirectory({ file: d.file ?? join(this.config.dataDir, USERS_FILE_NAME) }, { logger })
    const bindPassword = d.bindPasswordFile != null ? (await readFile(d.bindPasswordFile, 'utf8')).trim() : undefined
    return new LdapDirectory({
      url: d.url,
      bindDN: d.bindDN,
      bindPassword,
      userBase: d.userBase,
      userFilter: d.userFilter,
      groupBase: d.groupBase,
      groupFilter: d.groupFilter,
      groupNameAttribute: d.groupNameAttribute,
      timeoutMs: d.timeoutMs
    }, { logger })
  }

  async start (): Promise<void> {
    const { config, log } = this
    this.startedAt = Date.now()
    try {
      await mkdir(config.dataDir, { recursive: true, mode: 0o700 })
      const key = await loadOrCreateDomainKey(config.dataDir)
      if (key.created) log.info({ file: key.file, peerId: key.peerId.toString() }, 'created the domain key')

      this.db = new Level<string, string>(join(config.dataDir, 'db'), { valueEncoding: 'utf8' })
      try {
        await this.db.open()
      } catch (err) {
        const cause = (err as { cause?: { code?: string } }).cause
        if (cause?.code === 'LEVEL_LOCKED') {
          throw new CmeshError('DATA_DIR_LOCKED', `data directory ${config.dataDir} is in use by another process (is a node already running there?)`)
        }
        throw err
      }
      this.load.start()

      this.entityStore = new EntityStore({ db: this.db, log: log.child({ component: 'ngsi:store' }), signer: createSigner(key.privateKey) }, {
        domain: config.domain.name,
        cacheSize: config.ngsi.cacheSize,
        recordCacheSize: config.ngsi.recordCacheSize,
        sync: config.ngsi.sync,
        restored: this.restored
      })
      await this.entityStore.start()
      this.ngsiService = new NgsiService({ store: this.entityStore, log: log.child({ component: 'ngsi' }), mergeAttribute })
      this.contexts = new ContextResolver({
        localContexts: config.ngsi.contexts.local,
        preloadDir: config.ngsi.contexts.preloadDir,
        allowRemote: config.ngsi.contexts.allowRemote,
        timeoutMs: config.ngsi.contexts.timeoutMs
      })
      // Subscriptions listen to the store from before the mesh starts, so that no replicated
      // change arriving during start-up goes unnotified.
      this.subscriptionManager = new SubscriptionManager({
        db: this.db,
        store: this.entityStore,
        contexts: this.contexts,
        log: log.child({ component: 'ngsi:subscriptions' })
      })
      await this.subscriptionManager.start()
      this.compactTimer = setInterval(() => {
        this.compactNow().catch((err: unknown) => { log.error({ err }, 'compaction failed') })
      }, config.replication.compactIntervalMs)
      this.compactTimer.unref()

      const store = this.entityStore
      // With a certificate from the federation CA, peers prove membership by theirs; without one,
      // membership is the allowlist, and every bootstrap peer must be on it.
      const certificate = await readDomainCertificate(config.dataDir)
      this.tls = certificate != null
      if (certificate == null) {
        const issues = bootstrapMembershipIssues(config)
        if (issues.length > 0) throw new ConfigError('config', issues)
      }
      const caCertPem = certificate?.caCertPem ?? null
      const policy = new WritePolicy(store, {
        domain: config.domain.name,
        ownedTypes: config.replication.ownedTypes.map(t => t.includes(':') ? t : DEFAULT_VOCAB + t),
        ownerInId: config.replication.ownerInId,
        signedDocuments: {
          type: REVOCATION_TYPE,
          attr: DOCUMENT_ATTR,
          isValid: (doc) => isValidRevocationList(doc, caCertPem),
          isNewer: (doc, held) => (doc as RevocationList).sequence >= (held as RevocationList).sequence
        }
      })
      this.meshService = new Mesh({
        privateKey: key.privateKey,
        log,
        getLoad: () => this.load.get(),
        getApiUrl: () => this.apiUrl,
        replica: { store, policy: {
          check: async (env, opts) => await policy.checkEnvelope(env as unknown as Envelope, { wait: opts.wait, batch: opts.batch as PolicyBatch | undefined }),
          newBatch: newPolicyBatch,
          checkRecord: async (r) => await policy.checkRecord(r)
        } }
      }, {
        domain: config.domain.name,
        fqdn: config.domain.fqdn,
        federation: config.federation.name,
        members: config.federation.members,
        listen: config.mesh.listen,
        announce: config.mesh.announce,
        bootstrap: config.mesh.bootstrap,
        heartbeatIntervalMs: config.mesh.heartbeatIntervalMs,
        suspectAfterMs: config.mesh.suspectAfterMs,
        deadAfterMs: config.mesh.deadAfterMs,
        pingIntervalMs: config.mesh.pingIntervalMs,
        redialInitialMs: config.mesh.redialInitialMs,
        redialMaxMs: config.mesh.redialMaxMs,
        connectToMembers: config.mesh.connectToMembers,
        syncIntervalMs: config.replication.syncIntervalMs,
        publishDelayMs: config.replication.publishDelayMs,
        recoveryTimeoutMs: config.replication.recoveryTimeoutMs,
        waitTimeoutMs: config.replication.waitTimeoutMs,
        maxWaiting: config.replication.maxWaiting,
        maxWaitingBytes: config.replication.maxWaitingBytes,
        syncRoundBytes: config.replication.syncRoundBytes,
        certificates: certificate != null ? { caCertPem: certificate.caCertPem, certPem: certificate.certPem } : undefined
      })
      await this.meshService.start()
      const mesh = this.meshService
      store.events.addEventListener('envelope', (e) => { mesh.replicator?.publish(e.detail.json) })
      const federation = new NodeFederation({ store, mesh, policy, log: log.child({ component: 'federation' }) }, {
        federation: config.federation.name,
        forwardTimeoutMs: config.replication.forwardTimeoutMs
      })
      this.federationGlue = federation

      const directory = await this.directory()
      const auth = config.auth.mode === 'enabled'
        ? new AuthService({
          directory,
          privateKey: key.privateKey,
          store,
          log: log.child({ component: 'auth' }),
          // Tokens of a domain whose certificate was revoked are refused, even before they expire.
          isRevoked: (domain) => {
            const peer = mesh.membership.peerOf(domain)
            return peer != null && mesh.certificateOf(peer)?.revoked === true
          }
        }, {
          domain: config.domain.name,
          federation: config.federation.name,
          roleMapping: config.auth.roleMapping,
          tokenTtlSeconds: config.auth.tokenTtlSeconds,
          refreshTtlSeconds: config.auth.refreshTtlSeconds
        })
        : null
      await auth?.start()
      this.authService = auth ?? undefined
      if (auth == null) log.warn('auth.mode is disabled: every request acts as admin. Use this only for local experiments.')
      const revocations = new Revocations({ store, mesh, log: log.child({ component: 'revocations' }), onApplied: () => { auth?.forget() } }, caCertPem)
      await revocations.start()
      this.revocations = revocations

      const ngsiOptions = {
        prefix: NGSI_PREFIX,
        basePath: NGSI_PREFIX,
        service: this.ngsiService,
        contexts: this.contexts,
        subscriptions: this.subscriptionManager,
        federation,
        limits: { defaultLimit: config.ngsi.defaultLimit, maxLimit: config.ngsi.maxLimit }
      }
      const created = await createApi({
        log: log.child({ component: 'api' }),
        info: () => this.info(),
        mesh: {
          table: () => mesh.membership.table(),
          strangers: () => mesh.membership.listStrangers(),
          dialStatus: () => mesh.dialStatus(),
          syncState: () => mesh.replicator?.syncState() ?? [],
          replication: () => mesh.replicator?.stats ?? null,
          digest: async () => await federation.digest()
        },
        plugins: [
          async (app) => { await app.register(ngsiApi, ngsiOptions) },
          async (app) => { await app.register(authRoutes, { prefix: '/auth/v1', auth, loginRateLimit: config.auth.loginRateLimit }) },
          async (app) => { await app.register(revocationRoutes, { prefix: '/federation/v1', revocations }) }
        ],
        allowedMethods: (path) => path.startsWith(NGSI_PREFIX + '/') ? allowedMethods(path.slice(NGSI_PREFIX.length)) : null
      }, {
        bodyLimit: config.api.bodyLimit,
        version: VERSION,
        accessControl: { auth, domain: config.domain.name, audit: log.child({ component: 'audit' }) },
        https: certificate != null ? { cert: certificate.certPem, key: certificate.keyPem } : undefined
      })
      this.api = created.app
      this.routeTable = created.routes
      try {
        await this.api.listen({ host: config.api.host, port: config.api.port })
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
          throw new CmeshError('API_PORT_IN_USE', `api.port ${config.api.port} on ${config.api.host} is already in use`)
        }
        throw err
      }
      const api = this.api
      await federation.serve(async (req) => {
        const res = await api.inject({
          method: req.method as 'POST',
          url: req.url,
          headers: { ...req.headers, 'x-cmesh-forwarded-by': req.forwardedBy },
          payload: req.body
        })
        const headers: Record<string, string> = {}
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers[k] = v
        return { status: res.statusCode, headers, body: res.body }
      })
      const addr = this.api.server.address()
      const port = typeof addr === 'object' && addr != null ? addr.port : config.api.port
      const host = config.api.host.includes(':') ? `[${config.api.host}]` : config.api.host
      this.boundApiUrl = `${this.tls ? 'https' : 'http'}://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`
      if (!this.tls) log.warn({ url: this.apiUrl }, 'REST API serves plain HTTP: no domain certificate in the data directory (see `cmesh ca issue`); fine for local demos only')
      await publishDomainEntity(store, {
        domain: config.domain.name,
        fqdn: config.domain.fqdn,
        publicUrl: this.apiUrl,
        peerId: this.peerId,
        signingKey: exportPublicKey(key.privateKey)
      })
      log.info({ domain: config.domain.name, peerId: this.peerId, api: this.apiUrl, mesh: this.mesh.multiaddrs() }, 'node started')
    } catch (err) {
      await this.stop().catch(() => {})
      throw err
    }
  }

  /** Stops the API, the mesh and the database, in that order. Safe to call more than once. */
  async stop (): Promise<void> {
    this.stopping ??= this.doStop()
    return this.stopping
  }

  private async doStop (): Promise<void> {
    const errors: unknown[] = []
    const step = async (what: string, fn: () => Promise<unknown> | unknown): Promise<void> => {
      try { await fn() } catch (err) { errors.push(err); this.log.error({ err }, `stopping ${what} failed`) }
    }
    clearInterval(this.compactTimer)
    await step('compaction', async () => await this.compacting)
    await step('api', async () => this.api?.close())
    await step('auth', async () => this.authService?.stop())
    await step('federation', () => { this.federationGlue?.stop(); this.revocations?.stop() })
    await step('mesh', async () => this.meshService?.stop())
    await step('load sampler', () => { this.load.stop() })
    // after the API and the mesh (no more changes), before the resolver and the store it uses
    await step('subscriptions', async () => this.subscriptionManager?.stop())
    await step('context resolver', async () => { await this.contexts?.stop() })
    await step('entity store', async () => this.entityStore?.stop())
    await step('database', async () => { if (this.db?.status === 'open') await this.db.close() })
    this.log.info('node stopped')
    if (errors.length > 0) throw errors[0]
  }
}

/**
 * Node configuration: schema, defaults and loading.
 *
 * ```ts
 * const config = await loadConfig('config/default.yaml') // validated and frozen
 * ```
 * A bad file throws a ConfigError whose lines name the key and the reason, e.g.
 * `mesh.bootstrap[1]: not a multiaddr with /p2p/<peer id>`.
 */
export { ConfigSchema, DEFAULT_CONFIG, type NodeConfig, type NodeConfigInput } from './schema.ts'
export { buildConfig, bootstrapMembershipIssues, loadConfig, parsePeerMultiaddr } from './load.ts'

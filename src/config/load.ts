import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { Ajv, type ErrorObject } from 'ajv'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { parse as parseYaml } from 'yaml'
import { ConfigError } from '../errors.ts'
import { ConfigSchema, DEFAULT_CONFIG, type NodeConfig, type NodeConfigInput } from './schema.ts'

/** Parses a multiaddr; returns its /p2p/ peer id (or null) or throws if it is not a multiaddr. */
export function parsePeerMultiaddr (value: string): { peerId: string | null } {
  const ma = multiaddr(value)
  const p2p = ma.getComponents().filter(c => c.name === 'p2p')
  const last = ma.getComponents().at(-1)
  if (p2p.length !== 1 || last?.name !== 'p2p' || last.value == null) return { peerId: null }
  peerIdFromString(last.value)
  return { peerId: last.value }
}

function isMultiaddr (value: string): boolean {
  try { multiaddr(value); return value.startsWith('/') } catch { return false }
}

function isPeerMultiaddr (value: string): boolean {
  try { return isMultiaddr(value) && parsePeerMultiaddr(value).peerId != null } catch { return false }
}

function isPeerId (value: string): boolean {
  try { peerIdFromString(value); return true } catch { return false }
}

const FORMAT_MESSAGES: Record<string, string> = {
  multiaddr: 'not a multiaddr (e.g. /ip4/127.0.0.1/tcp/4001)',
  'multiaddr-p2p': 'not a multiaddr with /p2p/<peer id>',
  'peer-id': 'not a libp2p peer id',
  hostname: 'not a host name',
  uri: 'not a URL'
}

const ajv = new Ajv({ allErrors: true, strict: true, useDefaults: false, verbose: true })
ajv.addFormat('multiaddr', isMultiaddr)
ajv.addFormat('multiaddr-p2p', isPeerMultiaddr)
ajv.addFormat('peer-id', isPeerId)
ajv.addFormat('hostname', (v: string) => /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/.test(v))
ajv.addFormat('uri', (v: string) => { try { return ['http:', 'https:'].includes(new URL(v).protocol) } catch { return false } })
const validate = ajv.compile<NodeConfig>(ConfigSchema)

/** `/mesh/bootstrap/1` → `mesh.bootstrap[1]` */
function keyPath (pointer: string, extra?: string): string {
  const parts = pointer.split('/').slice(1).map(p => p.replace(/~1/g, '/').replace(/~0/g, '~'))
  if (extra != null) parts.push(extra)
  let out = ''
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : (out === '' ? p : `.${p}`)
  return out === '' ? '(top level)' : out
}

function describe (e: ErrorObject): string {
  switch (e.keyword) {
    case 'additionalProperties':
      return `${keyPath(e.instancePath, String(e.params.additionalProperty))}: unknown key`
    case 'required':
      return `${keyPath(e.instancePath, String(e.params.missingProperty))}: missing`
    case 'format':
      if (typeof e.data === 'string' && e.data.includes('{peer-id:')) {
        return `${keyPath(e.instancePath)}: still holds a {peer-id:…} placeholder; run \`cmesh federation link\` on the config files first`
      }
      return `${keyPath(e.instancePath)}: ${FORMAT_MESSAGES[String(e.params.format)] ?? `not a valid ${String(e.params.format)}`}`
    case 'pattern':
      return `${keyPath(e.instancePath)}: does not match ${String(e.params.pattern)}${e.parentSchema?.description != null ? ` (${e.parentSchema.description})` : ''}`
    case 'anyOf':
      return `${keyPath(e.instancePath)}: must be one of ${((e.parentSchema?.anyOf ?? []) as Array<{ const?: unknown }>).map(s => JSON.stringify(s.const)).join(', ')}`
    default:
      return `${keyPath(e.instancePath)}: ${e.message ?? 'invalid'}`
  }
}

function isPlainObject (v: unknown): v is Record<string, unknown> {
  return v != null && typeof v === 'object' && !Array.isArray(v)
}

/** Defaults overlaid with the input: objects merge key by key, everything else is replaced. */
function withDefaults (defaults: Record<string, unknown>, input: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...defaults }
  for (const [k, v] of Object.entries(input)) {
    out[k] = isPlainObject(v) && isPlainObject(defaults[k]) ? withDefaults(defaults[k], v) : v
  }
  return out
}

function deepFreeze<T> (o: T): T {
  if (o != null && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v)
    Object.freeze(o)
  }
  return o
}

/**
 * Validates a config object (after applying defaults) and returns it frozen. Throws a
 * ConfigError whose `issues` name each bad key and why.
 */
export function buildConfig (input: NodeConfigInput | Record<string, unknown>, source = '(inline config)'): NodeConfig {
  if (!isPlainObject(input)) throw new ConfigError(source, ['(top level): must be a mapping of keys to values'])
  const merged = withDefaults(structuredClone(DEFAULT_CONFIG) as unknown as Record<string, unknown>, input)
  // Derived defaults: a domain that only sets its name gets a matching FQDN.
  if (isPlainObject(input.domain) && input.domain.fqdn == null && typeof input.domain.name === 'string') {
    (merged.domain as Record<string, unknown>).fqdn = `${input.domain.name}.continuum.local`
  }
  if (!validate(merged)) {
    const issues = [...new Set((validate.errors ?? []).filter(e => e.keyword !== 'if').map(describe))]
    throw new ConfigError(source, issues)
  }
  const config = merged as unknown as NodeConfig
  const issues: string[] = []
  if (config.mesh.deadAfterMs <= config.mesh.suspectAfterMs) {
    issues.push(`mesh.deadAfterMs: must be larger than mesh.suspectAfterMs (${config.mesh.suspectAfterMs})`)
  }
  if (config.mesh.suspectAfterMs <= config.mesh.heartbeatIntervalMs) {
    issues.push(`mesh.suspectAfterMs: must be larger than mesh.heartbeatIntervalMs (${config.mesh.heartbeatIntervalMs})`)
  }
  if (config.mesh.redialMaxMs < config.mesh.redialInitialMs) {
    issues.push(`mesh.redialMaxMs: must be at least mesh.redialInitialMs (${config.mesh.redialInitialMs})`)
  }
  if (issues.length > 0) throw new ConfigError(source, issues)
  config.dataDir = resolve(config.dataDir)
  return deepFreeze(config)
}

/**
 * Without a federation CA, membership is the allowlist alone: a bootstrap peer outside it would
 * be refused. (With a domain certificate, peers prove membership by theirs, so the node checks
 * this at start only when it has none.)
 */
export function bootstrapMembershipIssues (config: NodeConfig): string[] {
  const members = new Set(config.federation.members)
  const issues: string[] = []
  config.mesh.bootstrap.forEach((addr, i) => {
    const { peerId } = parsePeerMultiaddr(addr)
    if (peerId != null && !members.has(peerId)) {
      issues.push(`mesh.bootstrap[${i}]: peer ${peerId} is not in federation.members, so the connection would be refused (no domain certificate in the data directory)`)
    }
  })
  return issues
}

/** Reads a YAML or JSON config file and validates it. */
export async function loadConfig (file: string): Promise<NodeConfig> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new ConfigError(file, [`cannot read the file: ${(err as Error).message}`])
  }
  let parsed: unknown
  try {
    parsed = parseYaml(text) ?? {}
  } catch (err) {
    throw new ConfigError(file, [`not valid YAML or JSON: ${(err as Error).message}`])
  }
  return buildConfig(parsed as Record<string, unknown>, file)
}

import { readFile, writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { parseDocument, isSeq, type Document } from 'yaml'
import { multiaddr } from '@multiformats/multiaddr'
import { loadOrCreateDomainKey } from '../../identity/index.ts'
import { DEFAULT_CONFIG, loadConfig } from '../config/index.ts'
import { ConfigError } from '../errors.ts'

/** In example configs, `{peer-id:domain-b}` stands for domain-b's peer id until `link` fills it in. */
export const PEER_ID_PLACEHOLDER = /\{peer-id:([a-z0-9-]+)\}/g

export interface LinkedDomain {
  file: string
  domain: string
  peerId: string
  /** listen addresses with /p2p/<peer id> */
  addrs: string[]
  changed: boolean
}

interface Loaded {
  file: string
  doc: Document
  domain: string
  peerId: string
  listen: string[]
}

/** host+port of a TCP multiaddr, to match bootstrap entries with the listen addresses of other files. */
function endpointOf (addr: string): string | null {
  try {
    const parts = multiaddr(addr.replace(PEER_ID_PLACEHOLDER, '')).getComponents()
    const host = parts.find(c => ['ip4', 'ip6', 'dns', 'dns4', 'dns6'].includes(c.name))?.value
    const port = parts.find(c => c.name === 'tcp')?.value
    return host != null && port != null ? `${host}:${port}` : null
  } catch { return null }
}

/**
 * Links the config files of domains that run on machines the operator controls (or one machine):
 * creates each domain's key in its data directory if missing, then fills every
 * `{peer-id:NAME}` placeholder in `mesh.bootstrap` and `federation.members` with that domain's
 * peer id, and corrects bootstrap entries that point at another file's listen address with a
 * stale peer id. Comments and layout of the files are kept. Each file is validated afterwards.
 */
export async function linkConfigs (files: string[]): Promise<LinkedDomain[]> {
  const loaded: Loaded[] = []
  for (const file of files) {
    const doc = parseDocument(await readFile(file, 'utf8'))
    if (doc.errors.length > 0) throw new ConfigError(file, doc.errors.map(e => `not valid YAML: ${e.message}`))
    const domain = doc.getIn(['domain', 'name'])
    if (typeof domain !== 'string') throw new ConfigError(file, ['domain.name: missing'])
    const dataDir = doc.getIn(['dataDir']) ?? DEFAULT_CONFIG.dataDir
    if (typeof dataDir !== 'string') throw new ConfigError(file, ['dataDir: must be a string'])
    const key = await loadOrCreateDomainKey(resolve(dataDir))
    const listenNode = doc.getIn(['mesh', 'listen'])
    const listen = isSeq(listenNode) ? listenNode.items.map(i => String((i as { value?: unknown }).value ?? i)) : DEFAULT_CONFIG.mesh.listen
    loaded.push({ file, doc, domain, peerId: key.peerId.toString(), listen })
  }
  const byName = new Map(loaded.map(l => [l.domain, l]))
  const byEndpoint = new Map<string, Loaded>()
  for (const l of loaded) for (const a of l.listen) { const e = endpointOf(a); if (e != null) byEndpoint.set(e, l) }

  const fill = (file: string, value: string): string => value.replace(PEER_ID_PLACEHOLDER, (_m, name: string) => {
    const target = byName.get(name)
    if (target == null) throw new ConfigError(file, [`placeholder {peer-id:${name}}: no config among the linked files has domain.name ${name}`])
    return target.peerId
  })

  const results: LinkedDomain[] = []
  for (const l of loaded) {
    const before = l.doc.toString()
    const bootstrap = l.doc.getIn(['mesh', 'bootstrap'])
    if (isSeq(bootstrap)) {
      bootstrap.items.forEach((item, i) => {
        const value = String((item as { value?: unknown }).value ?? item)
        let next = fill(l.file, value)
        const target = byEndpoint.get(endpointOf(next) ?? '')
        if (target != null && target !== l) {
          const base = next.replace(/\/p2p\/[^/]+$/, '')
          next = `${base}/p2p/${target.peerId}`
        }
        if (next !== value) l.doc.setIn(['mesh', 'bootstrap', i], next)
      })
    }
    const members = l.doc.getIn(['federation', 'members'])
    if (isSeq(members)) {
      members.items.forEach((item, i) => {
        const value = String((item as { value?: unknown }).value ?? item)
        const next = fill(l.file, value)
        if (next !== value) l.doc.setIn(['federation', 'members', i], next)
      })
    }
    const after = l.doc.toString()
    if (after !== before) await writeFile(l.file, after)
    results.push({
      file: l.file,
      domain: l.domain,
      peerId: l.peerId,
      addrs: l.listen.map(a => `${a}/p2p/${l.peerId}`),
      changed: after !== before
    })
  }
  for (const l of loaded) await loadConfig(l.file)
  return results
}

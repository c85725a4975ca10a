/**
 * Authentication costs (issue 5): Ed25519 token verification per second (uncached, as for a
 * token seen for the first time), and REST throughput with auth on as a ratio to auth off
 * (GET /entities/{id}; a client reuses its token, which the node verifies once and caches).
 */
import { join } from 'node:path'
import autocannon from 'autocannon'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { addUser, issueToken, verifyToken } from '../identity/index.ts'
import type { Figure } from './gossip-baseline.ts'
import { startNodeProcess } from './lib/node-proc.ts'
import { round } from './lib/procs.ts'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)

async function getRate (url: string, headers: Record<string, string>): Promise<{ rps: number, p99: number, non2xx: number }> {
  const r = await autocannon({ url, connections: 32, duration: SECONDS, headers })
  return { rps: r.requests.average, p99: r.latency.p99, non2xx: r.non2xx }
}

export async function authBench (): Promise<Figure[]> {
  const figures: Figure[] = []
  const key = await generateKeyPair('Ed25519')
  const { token } = await issueToken({ privateKey: key, issuer: 'bench', subject: 'u', roles: ['viewer'], audience: 'bench' })
  const n = 5000
  const t0 = performance.now()
  for (let i = 0; i < n; i++) await verifyToken(token, { audience: 'bench', getIssuerKey: () => key.publicKey })
  figures.push({ name: 'auth.token_verify', value: Math.round(n / ((performance.now() - t0) / 1000)), unit: 'verifications/s', note: 'EdDSA JWT, uncached (jose)' })

  const entity = { id: 'urn:ngsi-ld:Room:1', type: 'Room', temperature: { type: 'Property', value: 21 } }
  const rates: Record<string, { rps: number, p99: number, non2xx: number }> = {}
  for (const mode of ['disabled', 'enabled'] as const) {
    const node = await startNodeProcess({ domain: { name: 'bench' }, auth: { mode } })
    try {
      let headers: Record<string, string> = {}
      if (mode === 'enabled') {
        await addUser(join(node.dir, 'data', 'users.json'), { username: 'bench', password: 'bench-password-1', groups: ['admin'] })
        const res = await fetch(`${node.url}/auth/v1/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'bench', password: 'bench-password-1' }) })
        headers = { authorization: `Bearer ${(await res.json() as { access_token: string }).access_token}` }
      }
      const created = await fetch(`${node.url}/ngsi-ld/v1/entities`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(entity) })
      if (created.status !== 201) throw new Error(`create failed: ${created.status}`)
      rates[mode] = await getRate(`${node.url}/ngsi-ld/v1/entities/${entity.id}`, headers)
    } finally {
      await node.stop()
    }
  }
  figures.push({ name: 'auth.retrieve_auth_off', value: Math.round(rates.disabled.rps), unit: 'req/s', p99_ms: rates.disabled.p99, non2xx: rates.disabled.non2xx })
  figures.push({ name: 'auth.retrieve_auth_on', value: Math.round(rates.enabled.rps), unit: 'req/s', p99_ms: rates.enabled.p99, non2xx: rates.enabled.non2xx, ratio_to_auth_off: round(rates.enabled.rps / rates.disabled.rps, 3) })
  return figures
}

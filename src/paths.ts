import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The package's root directory (where package.json is), found by walking up from this module:
 * it works both from the TypeScript sources (src/) and from the compiled build (dist/src/).
 */
function findRoot (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'bin', 'cmesh.js'))) return dir
    const up = dirname(dir)
    if (up === dir) throw new Error('cannot find the continuum-mesh package root')
    dir = up
  }
}

export const PACKAGE_ROOT = findRoot()
export const CMESH_BIN = join(PACKAGE_ROOT, 'bin', 'cmesh.js')

/**
 * Node.js flags a node runs with (bin/cmesh.js's first line names the same ones, for `cmesh …`
 * run directly or through npx; whoever spawns `node bin/cmesh.js` passes them). A young
 * generation of 64 MiB per semi-space instead of 16: writes allocate many short-lived objects
 * (parsed bodies, records, envelopes), and with the default, scavenges ran so often that much of
 * it was promoted to the old generation. Measured on a batch upsert of 100,000 entities (8 pairs
 * of runs): +8 % creates/s, +13 % updates/s, and 12–20 % less RSS afterwards.
 */
export const NODE_FLAGS = ['--max-semi-space-size=64']

/**
 * Environment a node runs with (bin/cmesh.js's first line sets the same; whoever spawns `node
 * bin/cmesh.js` passes it, unless its own environment already chooses). glibc's malloc gives
 * each thread that allocates its own arena (up to 8 per core): LevelDB's batches are copied out of
 * V8 on the main thread and freed on a libuv thread, and V8's helper threads allocate too; memory
 * freed in one arena is not reused by another. Two arenas, alternating runs on this 2-core VM:
 * less RSS (writer after 50,000 replicated updates 632 → 529 MiB, 4 pairs; a lone node after a
 * 100,000-entity batch upsert 874 → 832 MiB, 8 pairs); throughput within this machine's noise
 * (lone-node creates +10 %, updates ±0 over 8 pairs; catch-up +19 % over 4 pairs at 50,000
 * entities, not seen in a run at 100,000).
 */
export const NODE_RUNTIME_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' }

/** `env` for a spawned node: NODE_RUNTIME_ENV under what `env` (or this process) already sets. */
export function nodeProcessEnv (env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...NODE_RUNTIME_ENV, ...env }
}

/**
 * The floor under the ingest goals of issues 3 and 4 on this machine: the least work a batch
 * upsert and a catch-up must do with this project's storage (one JSON record per entity and a
 * signed change log in LevelDB), done plainly, without any Continuum Mesh code (see
 * bench/lib/floor-worker.ts for what is in and what is left out). A goal above its floor cannot be
 * met here by tuning: only by storing less per change. The `floor.log_only.*` figures are the floor
 * of such a layout (records in memory, only the change log written).
 *
 * Runs in a child process with the flags and environment a node runs with (--max-semi-space-size,
 * MALLOC_ARENA_MAX). BENCH_FLOOR_ENTITIES (100,000), BENCH_FLOOR_RUNS (3; the best is kept).
 */
import { spawn } from 'node:child_process'
import type { Figure } from './gossip-baseline.ts'
import { NODE_FLAGS, nodeProcessEnv } from '../src/paths.ts'

export async function floorBench (): Promise<Figure[]> {
  const child = spawn(process.execPath, [...NODE_FLAGS, '--expose-gc', '--import', 'tsx', 'bench/lib/floor-worker.ts'], { stdio: ['ignore', 'pipe', 'inherit'], env: nodeProcessEnv() })
  let out = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (d: string) => { out += d })
  const code = await new Promise<number | null>(resolve => child.once('exit', resolve))
  if (code !== 0) throw new Error(`floor worker exited with ${code}`)
  return out.split('\n').filter(l => l.startsWith('{')).map(l => JSON.parse(l) as Figure)
}

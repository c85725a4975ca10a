/**
 * `npm run bench`: runs the benchmarks and prints one JSON line per figure
 * (`{"name", "value", "unit", ...}`). Later figures are also given as ratios to the baselines
 * measured in the same run.
 *
 *   npm run bench                 # all
 *   npm run bench -- gossip       # only those whose name contains "gossip"
 *   npm run bench -- replication,scale   # several, comma-separated
 *
 * A bench that reports ratios to another names it in `needs`; that one runs first even when the
 * filter leaves it out, so the ratios always come from the same run.
 */
import { gossipBaseline, type Figure } from './gossip-baseline.ts'
import { ngsiBench } from './ngsi.ts'
import { replicationBench } from './replication.ts'
import { scaleBench } from './scale.ts'
import { authBench } from './auth.ts'
import { floorBench } from './floor.ts'

interface Bench { name: string, needs?: string[], run: (baseline: Map<string, number>) => Promise<Figure[]> }

const benches: Bench[] = [
  { name: 'gossip-baseline', run: async () => await gossipBaseline() },
  { name: 'ngsi', run: async () => await ngsiBench() },
  { name: 'replication', needs: ['gossip-baseline'], run: async (baseline) => await replicationBench(baseline) },
  { name: 'scale', run: async (baseline) => await scaleBench(baseline) },
  { name: 'auth', run: async () => await authBench() },
  { name: 'floor', run: async () => await floorBench() }
]

const filters = process.argv[2]?.split(',').filter(f => f !== '')
const selected = new Set(benches.filter(b => filters == null || filters.some(f => b.name.includes(f))).map(b => b.name))
for (const b of benches) if (selected.has(b.name)) for (const n of b.needs ?? []) selected.add(n)
const baseline = new Map<string, number>()
let failed = false
for (const b of benches) {
  if (!selected.has(b.name)) continue
  process.stderr.write(`bench: running ${b.name} …\n`)
  try {
    for (const f of await b.run(baseline)) {
      baseline.set(f.name, f.value)
      process.stdout.write(JSON.stringify(f) + '\n')
    }
  } catch (err) {
    failed = true
    process.stderr.write(`bench: ${b.name} failed: ${(err as Error).stack ?? String(err)}\n`)
  }
}
process.exit(failed ? 1 : 0)

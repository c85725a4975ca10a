/**
 * `npm run bench`: runs the benchmarks and prints one JSON line per figure
 * (`{"name", "value", "unit", ...}`). Later figures are also given as ratios to the baselines
 * measured in the same run.
 *
 *   npm run bench                 # all
 *   npm run bench -- gossip       # only those whose name contains "gossip"
 */
import { gossipBaseline, type Figure } from './gossip-baseline.ts'
import { ngsiBench } from './ngsi.ts'

interface Bench { name: string, run: (baseline: Map<string, number>) => Promise<Figure[]> }

const benches: Bench[] = [
  { name: 'gossip-baseline', run: async () => await gossipBaseline() },
  { name: 'ngsi', run: async () => await ngsiBench() }
]

const filter = process.argv[2]
const baseline = new Map<string, number>()
let failed = false
for (const b of benches) {
  if (filter != null && !b.name.includes(filter)) continue
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

/**
 * Where the time goes in a V8 .cpuprofile (from `node --cpu-prof`, e.g. BENCH_PROFILE=<dir>
 * with the replication bench): self time by function and by package/folder, top entries.
 *
 *   node --import tsx bench/lib/cpuprofile-summary.ts <file.cpuprofile> [top=25] [fromS] [toS]
 *
 * fromS/toS restrict it to a window (seconds since the profile started; a busy-per-second
 * timeline is printed to find the window of interest, e.g. after start-up).
 */
import { readFileSync } from 'node:fs'

interface Node { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, hitCount?: number, children?: number[] }
interface Profile { nodes: Node[], startTime: number, endTime: number, samples: number[], timeDeltas: number[] }

export function summarize (profile: Profile, top = 25, fromS = 0, toS = Infinity): string {
  const self = new Map<number, number>()
  const idle = new Set(profile.nodes.filter(n => n.callFrame.functionName === '(idle)').map(n => n.id))
  const busyPerS: number[] = []
  let t = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i + 1] ?? 0
    t += profile.timeDeltas[i]
    const s = Math.floor(t / 1e6)
    if (!idle.has(profile.samples[i])) busyPerS[s] = (busyPerS[s] ?? 0) + dt
    if (t / 1e6 < fromS || t / 1e6 > toS) continue
    self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + dt)
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0)
  const byFn = new Map<string, number>()
  const byArea = new Map<string, number>()
  for (const n of profile.nodes) {
    const us = self.get(n.id) ?? 0
    if (us === 0) continue
    const url = n.callFrame.url.replace(/^file:\/\//, '')
    const fn = `${n.callFrame.functionName || '(anonymous)'} ${url === '' ? '' : `${url.replace(/^.*\/work\/main\//, '')}:${n.callFrame.lineNumber + 1}`}`
    byFn.set(fn, (byFn.get(fn) ?? 0) + us)
    byArea.set(area(url, n.callFrame.functionName), (byArea.get(area(url, n.callFrame.functionName)) ?? 0) + us)
  }
  const fmt = (m: Map<string, number>): string => [...m].sort((a, b) => b[1] - a[1]).slice(0, top)
    .map(([k, us]) => `${(us / 1000).toFixed(0).padStart(7)} ms ${(100 * us / total).toFixed(1).padStart(5)}%  ${k}`).join('\n')
  const timeline = Array.from(busyPerS, (us, i) => `${i}s:${Math.round((us ?? 0) / 1e4)}%`).join(' ')
  return `profile: ${((profile.endTime - profile.startTime) / 1e6).toFixed(1)} s wall, ${(total / 1e6).toFixed(1)} s sampled in the window\n` +
    `busy per second: ${timeline}\n` +
    `-- self time by area --\n${fmt(byArea)}\n-- self time by function --\n${fmt(byFn)}`
}

function area (url: string, fn: string): string {
  if (url === '') return fn.startsWith('(') ? fn : '(native)'
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (nm != null) return nm[1]
  if (url.startsWith('node:')) return url
  const ours = /\/work\/main\/([^/]+\/(?:[^/]+\/)?)/.exec(url)
  return ours?.[1] ?? url
}

if (process.argv[1]?.endsWith('cpuprofile-summary.ts') === true && process.argv[2] != null) {
  const [file, top, from, to] = process.argv.slice(2)
  process.stdout.write(summarize(JSON.parse(readFileSync(file, 'utf8')) as Profile, Number(top ?? 25), Number(from ?? 0), to != null ? Number(to) : Infinity) + '\n')
}

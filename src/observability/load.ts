import { cpus, freemem, totalmem } from 'node:os'
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'
import type { LoadReport } from '../../mesh/index.ts'

export interface LoadSamplerInit {
  /** how often to sample, ms (default 1000) */
  intervalMs?: number
}

function cpuTimes (): { idle: number, total: number } {
  let idle = 0
  let total = 0
  for (const c of cpus()) {
    idle += c.times.idle
    total += c.times.user + c.times.nice + c.times.sys + c.times.idle + c.times.irq
  }
  return { idle, total }
}

/**
 * Samples the machine's CPU and memory use and this process's event-loop delay once per
 * interval, so that reading the load (each heartbeat, each /health) costs nothing.
 */
export class LoadSampler {
  private readonly intervalMs: number
  private timer?: NodeJS.Timeout
  private histogram?: IntervalHistogram
  private prev = cpuTimes()
  private current: LoadReport = { cpu: 0, memory: 0, rssBytes: 0, eventLoopLagMs: 0 }

  constructor (init: LoadSamplerInit = {}) {
    this.intervalMs = init.intervalMs ?? 1000
  }

  start (): void {
    this.histogram = monitorEventLoopDelay({ resolution: 10 })
    this.histogram.enable()
    this.sample()
    this.timer = setInterval(() => { this.sample() }, this.intervalMs)
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
    this.histogram?.disable()
  }

  get (): LoadReport {
    return this.current
  }

  private sample (): void {
    const now = cpuTimes()
    const dTotal = now.total - this.prev.total
    const cpu = dTotal > 0 ? 1 - (now.idle - this.prev.idle) / dTotal : 0
    this.prev = now
    const lagNs = this.histogram != null && this.histogram.count > 0 ? this.histogram.percentile(99) : 0
    this.histogram?.reset()
    this.current = {
      cpu: clamp01(cpu),
      memory: clamp01(1 - freemem() / totalmem()),
      rssBytes: process.memoryUsage.rss(),
      eventLoopLagMs: Math.round(lagNs / 1e4) / 100
    }
  }
}

function clamp01 (v: number): number {
  return Math.min(1, Math.max(0, Number.isFinite(v) ? Math.round(v * 1000) / 1000 : 0))
}

/**
 * Observability of the node itself: load sampling (CPU, memory, event-loop lag) for heartbeats
 * and health.
 *
 * ```ts
 * const load = new LoadSampler(); load.start(); load.get() // { cpu, memory, rssBytes, eventLoopLagMs }
 * ```
 */
export { LoadSampler, type LoadSamplerInit } from './load.ts'

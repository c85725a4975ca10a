/**
 * Notification delivery: one FIFO queue per subscription (bounded, oldest dropped first), one
 * notification in flight per subscription (receivers see them in order), a global cap on
 * requests in flight, and retries with backoff that wait without holding a slot. The HTTP side
 * is a POST with a per-request timeout; 2xx is success, network errors, timeouts, 408, 429 and
 * 5xx are retried, other answers (3xx are not followed, 4xx) are final.
 */
import type { Logger } from 'pino'
import type { NotificationContent, NotificationMessage } from './render.ts'

/** A notification waiting to be sent, and its delivery state. */
export interface Job extends NotificationContent {
  /** retries made so far */
  attempt: number
  /** rendered on the first attempt, reused by the retries (same id, same body) */
  prepared?: PreparedDelivery
  /** a periodic snapshot: a newer one replaces it while it waits */
  periodic?: boolean
}

export interface PreparedDelivery {
  uri: string
  timeoutMs: number
  message: NotificationMessage
}

/** The per-subscription side of the dispatcher. */
export interface Outbox {
  readonly id: string
  readonly queue: Job[]
  /** a job of this outbox is in flight or waiting for its retry */
  busy: boolean
  /** listed in the ready list */
  scheduled: boolean
  /** deleted (or the node stops): nothing more is sent */
  closed: boolean
}

export interface AttemptOutcome {
  ok: boolean
  /** when the request was sent (ISO) */
  at: string
  status?: number
  error?: string
  retryable: boolean
}

export interface DispatcherHooks<B extends Outbox> {
  /** whether the job may be sent now (checked before every attempt); false drops it */
  admit: (box: B, job: Job) => boolean
  /** renders the job, once */
  prepare: (box: B, job: Job) => Promise<PreparedDelivery>
  attempted: (box: B, job: Job, outcome: AttemptOutcome) => void
  /** the job failed for good (no retry left, or not retryable) */
  failed: (box: B, job: Job, outcome: AttemptOutcome) => void
  /** the queue was full: `job` (the oldest) is dropped unsent */
  dropped: (box: B, job: Job) => void
}

export interface DispatcherInit {
  maxInFlight: number
  maxQueue: number
  retryDelaysMs: readonly number[]
  fetch: typeof fetch
  log: Logger
}

function describe (err: unknown): string {
  const e = err as Error & { cause?: { code?: string, message?: string } }
  const cause = e.cause?.code ?? e.cause?.message
  return cause !== undefined ? `${e.message}: ${cause}` : e.message
}

export class Dispatcher<B extends Outbox> {
  private readonly hooks: DispatcherHooks<B>
  private readonly init: DispatcherInit
  private readonly ready: B[] = []
  private readonly timers = new Set<NodeJS.Timeout>()
  private readonly running = new Set<Promise<void>>()
  private readonly abort = new AbortController()
  private inFlight = 0
  private pumpScheduled?: NodeJS.Immediate
  private stopped = false

  constructor (hooks: DispatcherHooks<B>, init: DispatcherInit) {
    this.hooks = hooks
    this.init = init
  }

  /** Requests in flight right now (for diagnostics and tests). */
  get active (): number {
    return this.inFlight
  }

  /** Queues a job; sending starts on a later tick, never inside the caller (a store write). */
  enqueue (box: B, job: Job): void {
    if (this.stopped || box.closed) return
    const q = box.queue
    if (job.periodic === true) {
      // a newer snapshot of the same subscription supersedes one that is still waiting
      for (let i = q.length - 1; i >= 0; i--) if (q[i].periodic === true) q.splice(i, 1)
    }
    while (q.length >= this.init.maxQueue) {
      const old = q.shift() as Job
      this.hooks.dropped(box, old)
    }
    q.push(job)
    this.markReady(box)
    this.pumpSoon()
  }

  /** Forgets an outbox's waiting jobs; a job in flight finishes but is not retried. */
  close (box: B): void {
    box.closed = true
    box.queue.length = 0
  }

  /** Aborts requests in flight, cancels retries, and waits for the deliveries to settle. */
  async stop (): Promise<void> {
    this.stopped = true
    this.abort.abort()
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    if (this.pumpScheduled !== undefined) clearImmediate(this.pumpScheduled)
    this.ready.length = 0
    await Promise.allSettled([...this.running])
  }

  private markReady (box: B): void {
    if (box.busy || box.scheduled || box.closed || box.queue.length === 0) return
    box.scheduled = true
    this.ready.push(box)
  }

  private pumpSoon (): void {
    if (this.pumpScheduled !== undefined) return
    this.pumpScheduled = setImmediate(() => {
      this.pumpScheduled = undefined
      this.pump()
    })
  }

  private pump (): void {
    while (!this.stopped && this.inFlight < this.init.maxInFlight && this.ready.length > 0) {
      const box = this.ready.shift() as B
      box.scheduled = false
      if (box.busy || box.closed) continue
      const job = box.queue.shift()
      if (job === undefined) continue
      box.busy = true
      this.inFlight++
      const p = this.run(box, job)
      this.running.add(p)
      void p.finally(() => this.running.delete(p))
    }
  }

  private async run (box: B, job: Job): Promise<void> {
    let retryIn: number | undefined
    try {
      if (box.closed || this.stopped || !this.hooks.admit(box, job)) return
      job.prepared ??= await this.hooks.prepare(box, job)
      const outcome = await this.send(job.prepared)
      if (outcome === null) return
      this.hooks.attempted(box, job, outcome)
      if (outcome.ok) return
      if (outcome.retryable && job.attempt < this.init.retryDelaysMs.length && !box.closed && !this.stopped) {
        retryIn = this.init.retryDelaysMs[job.attempt]
        job.attempt++
        return
      }
      this.hooks.failed(box, job, outcome)
    } catch (err) {
      this.init.log.error({ err, subscriptionId: box.id }, 'notification could not be prepared')
    } finally {
      this.inFlight--
      if (retryIn !== undefined) {
        // The retry waits outside the concurrency cap; the outbox stays busy so order holds.
        const t = setTimeout(() => {
          this.timers.delete(t)
          box.busy = false
          if (box.closed || this.stopped) return
          box.queue.unshift(job)
          this.markReady(box)
          this.pump()
        }, retryIn)
        t.unref()
        this.timers.add(t)
      } else {
        box.busy = false
        this.markReady(box)
      }
      this.pump()
    }
  }

  /** One POST; null when aborted by stop(). */
  private async send (p: PreparedDelivery): Promise<AttemptOutcome | null> {
    const at = new Date().toISOString()
    const headers = new Headers()
    for (const [k, v] of p.message.headers) headers.set(k, v)
    try {
      const res = await this.init.fetch(p.uri, {
        method: 'POST',
        headers,
        body: p.message.body,
        // a redirect is an answer of the receiver, not a place to send entity data to
        redirect: 'manual',
        signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(p.timeoutMs)])
      })
      // the body is of no interest; releasing it frees the connection for the next notification
      await res.body?.cancel().catch(() => {})
      if (res.status >= 200 && res.status < 300) return { ok: true, at, status: res.status, retryable: false }
      return { ok: false, at, status: res.status, error: `HTTP ${res.status}`, retryable: res.status >= 500 || res.status === 408 || res.status === 429 }
    } catch (err) {
      if (this.abort.signal.aborted) return null
      const timedOut = (err as Error).name === 'TimeoutError'
      return { ok: false, at, error: timedOut ? `no answer within ${p.timeoutMs} ms` : describe(err), retryable: true }
    }
  }
}

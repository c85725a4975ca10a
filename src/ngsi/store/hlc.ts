/**
 * Hybrid logical clock (Kulkarni et al. 2014): physical milliseconds plus a counter, so that
 * stamps follow wall time where clocks agree and still order causally where they do not.
 * Stamps are fixed-width strings, so they sort correctly as LevelDB keys and with `<`.
 *
 *   0001795821297502-00000   (16-digit ms since epoch, 5-digit counter)
 */
const WALL_DIGITS = 16
const COUNTER_DIGITS = 5
const MAX_COUNTER = 10 ** COUNTER_DIGITS - 1

/**
 * How far ahead of our wall clock a remote stamp may be before we refuse to follow it: a peer with
 * a clock an hour fast must not drag every domain's timestamps an hour into the future.
 */
export const MAX_DRIFT_MS = 60_000

export type Hlc = string

export function formatHlc (wall: number, counter: number): Hlc {
  return `${String(wall).padStart(WALL_DIGITS, '0')}-${String(counter).padStart(COUNTER_DIGITS, '0')}`
}

export function parseHlc (h: Hlc): { wall: number, counter: number } {
  const dash = h.indexOf('-')
  return { wall: Number(h.slice(0, dash)), counter: Number(h.slice(dash + 1)) }
}

const isoMemo = new Map<string, string>()
/** Bound of the memo: stamps of a burst of writes share few milliseconds. */
const ISO_MEMO_SIZE = 4096

/** The wall-clock part of a stamp as an ISO 8601 date (for createdAt/modifiedAt). Memoised. */
export function hlcToIso (h: Hlc): string {
  const wall = h.slice(0, WALL_DIGITS)
  let iso = isoMemo.get(wall)
  if (iso == null) {
    if (isoMemo.size >= ISO_MEMO_SIZE) isoMemo.clear()
    iso = new Date(Number(wall)).toISOString()
    isoMemo.set(wall, iso)
  }
  return iso
}

export function isHlc (v: unknown): v is Hlc {
  return typeof v === 'string' && /^\d{16}-\d{5}$/.test(v)
}

export class ClockDriftError extends Error {
  readonly code = 'STORE_CLOCK_DRIFT'
  constructor (remote: Hlc, now: number) {
    super(`remote clock ${remote} is more than ${MAX_DRIFT_MS} ms ahead of ours (${now})`)
  }
}

export class HybridClock {
  private wall = 0
  private counter = 0
  private readonly physical: () => number

  constructor (physical: () => number = Date.now) {
    this.physical = physical
  }

  /** A new stamp, greater than every stamp this clock issued or saw. */
  now (): Hlc {
    const pt = this.physical()
    if (pt > this.wall) {
      this.wall = pt
      this.counter = 0
    } else {
      this.counter++
      if (this.counter > MAX_COUNTER) { this.wall++; this.counter = 0 }
    }
    return formatHlc(this.wall, this.counter)
  }

  /** Takes a stamp seen from elsewhere (a remote change, or our own log at start) into account. */
  observe (remote: Hlc): void {
    const r = parseHlc(remote)
    const pt = this.physical()
    if (r.wall > pt + MAX_DRIFT_MS) throw new ClockDriftError(remote, pt)
    if (r.wall > this.wall || (r.wall === this.wall && r.counter > this.counter)) {
      this.wall = r.wall
      this.counter = r.counter
    }
  }
}

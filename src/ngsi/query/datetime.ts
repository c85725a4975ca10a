/**
 * ISO 8601 instants and times of day as numbers, so that q can compare `2018-12-04T12:00:00Z`
 * with a stored `2018-12-04T12:00:00.000Z` (equal instants, different strings: a lexicographic
 * comparison gets them wrong) and `12:00:00+02:00` with `10:00:00Z`.
 * `Date.parse` is not used: it reads a DateTime without offset as local time and accepts many
 * non-ISO forms.
 */

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?)?$/
const TIME = /^(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?$/
const DAY_MS = 86_400_000

/** Offset east of UTC in minutes, for `Z`, `+02`, `+0200`, `-02:30`; none means UTC. */
function offsetMinutes (zone: string | undefined): number {
  if (zone === undefined || zone === 'Z' || zone === 'z') return 0
  const sign = zone[0] === '-' ? -1 : 1
  const digits = zone.slice(1).replace(':', '')
  return sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || '0'))
}

function millis (fraction: string | undefined): number {
  // sub-millisecond digits are dropped: instants compare at millisecond precision
  return fraction === undefined ? 0 : Number(fraction.slice(0, 3).padEnd(3, '0'))
}

function validClock (h: number, m: number, s: number): boolean {
  return h <= 23 && m <= 59 && s <= 60
}

/**
 * Milliseconds since the epoch for an ISO 8601 date (`2018-12-04`, taken as midnight UTC) or
 * date-time (`2018-12-04T12:00:00.5+01:00`, no offset = UTC); undefined if it is neither.
 */
export function parseInstant (text: string): number | undefined {
  // cheap rejection first: this runs on every string value a date comparison meets
  if (text.length < 10 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45) return undefined
  const m = DATE_TIME.exec(text)
  if (m === null) return undefined
  const year = Number(m[1])
  const month = Number(m[2])
  const day = Number(m[3])
  if (month < 1 || month > 12 || day < 1 || day > new Date(Date.UTC(year, month, 0)).getUTCDate()) return undefined
  const h = Number(m[4] ?? '0')
  const min = Number(m[5] ?? '0')
  const s = Number(m[6] ?? '0')
  if (!validClock(h, min, s)) return undefined
  return Date.UTC(year, month - 1, day, h, min, s, millis(m[7])) - offsetMinutes(m[8]) * 60_000
}

/** Milliseconds since midnight UTC for an ISO 8601 time (`12:00:00Z`, `12:00`, `13:30:00+01:00`). */
export function parseTimeOfDay (text: string): number | undefined {
  if (text.length < 5 || text.charCodeAt(2) !== 58) return undefined
  const m = TIME.exec(text)
  if (m === null) return undefined
  const h = Number(m[1])
  const min = Number(m[2])
  const s = Number(m[3] ?? '0')
  if (!validClock(h, min, s)) return undefined
  const ms = ((h * 60 + min) * 60 + s) * 1000 + millis(m[4]) - offsetMinutes(m[5]) * 60_000
  return ((ms % DAY_MS) + DAY_MS) % DAY_MS
}

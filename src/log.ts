/**
 * One pino logger per process; every component takes a child (`{component: 'mesh:membership'}`).
 * Readable on a terminal, JSON lines otherwise. Known secret-bearing keys are redacted wherever
 * they appear, as a second line of defence: code must not log secrets in the first place.
 */
import { pino, type Logger, type DestinationStream } from 'pino'
import pretty from 'pino-pretty'

export type { Logger }

export interface LoggerInit {
  /** default 'info' */
  level?: string
  /** 'auto' (default): pretty when the destination is a terminal, JSON otherwise */
  format?: 'auto' | 'json' | 'pretty'
  /** default: standard output */
  destination?: DestinationStream
  /** fields on every line, e.g. the domain name */
  base?: Record<string, unknown>
}

export const REDACT_PATHS = [
  'password', '*.password', 'privateKey', '*.privateKey', 'secret', '*.secret', 'token', '*.token',
  'authorization', '*.authorization', 'headers.authorization', 'req.headers.authorization'
]

export function createLogger (init: LoggerInit = {}): Logger {
  const format = init.format ?? 'auto'
  const usePretty = format === 'pretty' || (format === 'auto' && init.destination == null && process.stdout.isTTY === true)
  const destination = init.destination ??
    (usePretty ? pretty({ colorize: true, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }) : pino.destination({ dest: 1, sync: false }))
  return pino({
    level: init.level ?? 'info',
    base: init.base ?? {},
    redact: { paths: REDACT_PATHS, censor: '[redacted]' }
  }, destination)
}

/** A logger that drops everything: the default for library-style use and quiet tests. */
export function silentLogger (): Logger {
  return pino({ level: 'silent' })
}

/**
 * Shared fixtures of the identity tests: the users every directory is loaded with, a memory
 * logger, and temp dirs that `cleanupTempDirs` removes. Kept free of src/ imports, like identity/.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import type { IdentityLogger } from '../../identity/index.ts'

export interface TestUser {
  username: string
  password: string
  displayName: string
  groups: string[]
}

/**
 * alice has two groups (one with a space, as aerOS names them), bob a password full of LDAP filter
 * syntax, carol no group at all.
 */
export const CONTRACT_USERS: readonly TestUser[] = [
  { username: 'alice', password: 'alice-Correct-Horse-7', displayName: 'Alice Admin', groups: ['Vertical deployer', 'admin'] },
  { username: 'bob', password: 'bob (pass) *word* \\ 42', displayName: 'Bob Viewer', groups: ['viewer'] },
  { username: 'carol', password: 'carol-has-no-groups', displayName: 'Carol Nogroup', groups: [] }
]

const dirs: string[] = []

export async function tempDir (prefix = 'cmesh-identity-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  dirs.push(dir)
  return dir
}

/** Removes every temp dir made by `tempDir`; use as an `after` hook. */
export async function cleanupTempDirs (): Promise<void> {
  while (dirs.length > 0) await rm(dirs.pop() as string, { recursive: true, force: true })
}

/** A pino logger (debug level) that keeps its lines in memory. */
export function memoryLogger (): { logger: IdentityLogger, lines: string[] } {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _enc, cb) { lines.push(String(chunk)); cb() } })
  return { logger: pino({ level: 'debug' }, stream), lines }
}

/** Asserts that `promise` rejects with an error whose `code` is `code`; returns the error. */
export async function rejectsWithCode (promise: Promise<unknown>, code: string): Promise<Error & { code: string, data?: Record<string, unknown> }> {
  try {
    await promise
  } catch (err) {
    const e = err as Error & { code: string }
    if (e.code !== code) throw new Error(`expected ${code}, got ${e.code ?? e.name}: ${e.message}`)
    return e
  }
  throw new Error(`expected ${code}, but it resolved`)
}

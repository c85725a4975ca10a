import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { MAX_USERNAME_LENGTH, SECRET_FILE_MODE } from './constants.ts'
import { DirectoryFileError, InvalidArgumentError, UserExistsError, UserNotFoundError } from './errors.ts'
import { writeFileAtomic } from './atomic-file.ts'
import { checkPasswordPolicy, hashPassword, isUsableHash, type PasswordHash } from './password-hash.ts'

/**
 * The embedded directory's file (default `users.json` in the data directory, mode 0600):
 * `{ "version": 1, "users": [{ "username", "displayName"?, "groups": [], "password": { "algorithm": "scrypt",
 * "N", "r", "p", "salt", "hash" } }] }`. These functions are what `cmesh user add|passwd|rm|list` call.
 */
export interface StoredUser {
  username: string
  displayName?: string
  groups: string[]
  password: PasswordHash
}

interface UserFile {
  version: 1
  users: StoredUser[]
}

/** A user as listed: never the hash. */
export interface ListedUser {
  username: string
  displayName?: string
  groups: string[]
}

export interface NewUser {
  username: string
  password: string
  groups?: string[]
  displayName?: string
}

/** Letters, digits and `._@-`, starting with a letter or digit: safe in tokens, logs, file names and LDAP. */
const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@-]*$/

export function checkUsername (username: string): string {
  if (typeof username !== 'string' || username.length > MAX_USERNAME_LENGTH || !USERNAME.test(username)) {
    throw new InvalidArgumentError('username', 'use letters, digits and . _ @ - (starting with a letter or digit)')
  }
  return username
}

function checkGroups (groups: string[]): string[] {
  if (!Array.isArray(groups) || groups.some(g => typeof g !== 'string' || g.trim() === '' || g.length > 256 || /\p{Cc}/u.test(g))) {
    throw new InvalidArgumentError('groups', 'expected non-empty names without control characters')
  }
  return [...new Set(groups)].sort()
}

/** Usernames compare case-insensitively, as LDAP's uid does, so both directories agree on who is who. */
export function sameUsername (a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase()
}

/** Reads the user file; a missing file is an empty directory. @throws DirectoryFileError */
export async function readUserFile (file: string): Promise<StoredUser[]> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw new DirectoryFileError(file, `cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
  }
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch {
    throw new DirectoryFileError(file, 'not JSON')
  }
  const users = (doc as Partial<UserFile> | null)?.users
  if ((doc as Partial<UserFile> | null)?.version !== 1 || !Array.isArray(users)) throw new DirectoryFileError(file, 'expected { "version": 1, "users": [...] }')
  for (const [i, u] of users.entries()) {
    const ok = u != null && typeof u === 'object' && typeof u.username === 'string' && Array.isArray(u.groups) &&
      u.groups.every((g: unknown) => typeof g === 'string') && (u.displayName == null || typeof u.displayName === 'string') &&
      isUsableHash(u.password)
    if (!ok) throw new DirectoryFileError(file, `entry ${i} is not a valid user`)
  }
  return users
}

async function writeUserFile (file: string, users: StoredUser[]): Promise<void> {
  const doc: UserFile = { version: 1, users }
  await writeFileAtomic(file, JSON.stringify(doc, null, 2) + '\n', SECRET_FILE_MODE)
}

/**
 * Serialises read-modify-write cycles on one file within this process, so two concurrent
 * `addUser` calls cannot drop each other's user.
 */
const locks = new Map<string, Promise<unknown>>()

async function update<T> (file: string, change: (users: StoredUser[]) => Promise<{ users: StoredUser[], result: T }>): Promise<T> {
  const key = resolve(file)
  const run = (locks.get(key) ?? Promise.resolve()).catch(() => {}).then(async () => {
    const { users, result } = await change(await readUserFile(file))
    await writeUserFile(file, users)
    return result
  })
  locks.set(key, run)
  try {
    return await run
  } finally {
    if (locks.get(key) === run) locks.delete(key)
  }
}

function listed (u: StoredUser): ListedUser {
  return { username: u.username, ...(u.displayName != null ? { displayName: u.displayName } : {}), groups: [...u.groups] }
}

/** Adds a user. @throws UserExistsError, WeakPasswordError, InvalidArgumentError */
export async function addUser (file: string, user: NewUser): Promise<ListedUser> {
  const username = checkUsername(user.username)
  checkPasswordPolicy(user.password)
  const groups = checkGroups(user.groups ?? [])
  if (user.displayName != null && (typeof user.displayName !== 'string' || user.displayName.length > 256)) throw new InvalidArgumentError('displayName', 'expected at most 256 characters')
  // Hash outside the lock: it is the slow part and needs no file state.
  const password = await hashPassword(user.password)
  return await update(file, async users => {
    if (users.some(u => sameUsername(u.username, username))) throw new UserExistsError(username)
    const entry: StoredUser = { username, ...(user.displayName != null ? { displayName: user.displayName } : {}), groups, password }
    return { users: [...users, entry], result: listed(entry) }
  })
}

/** Replaces a user's password. @throws UserNotFoundError, WeakPasswordError */
export async function setPassword (file: string, username: string, password: string): Promise<void> {
  checkPasswordPolicy(password)
  const hash = await hashPassword(password)
  await update(file, async users => {
    const i = users.findIndex(u => sameUsername(u.username, username))
    if (i < 0) throw new UserNotFoundError(username)
    const next = [...users]
    next[i] = { ...users[i], password: hash }
    return { users: next, result: undefined }
  })
}

/** Removes a user. @throws UserNotFoundError */
export async function removeUser (file: string, username: string): Promise<void> {
  await update(file, async users => {
    const next = users.filter(u => !sameUsername(u.username, username))
    if (next.length === users.length) throw new UserNotFoundError(username)
    return { users: next, result: undefined }
  })
}

/** Lists users without their password hashes, sorted by username. */
export async function listUsers (file: string): Promise<ListedUser[]> {
  return (await readUserFile(file)).map(listed).sort((a, b) => a.username.localeCompare(b.username))
}

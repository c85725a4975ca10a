import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto'
import {
  MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, SCRYPT_KEY_LENGTH, SCRYPT_MAX_N, SCRYPT_PARAMS, SCRYPT_SALT_LENGTH
} from './constants.ts'
import { WeakPasswordError } from './errors.ts'

/** A stored password: scrypt with its own salt and parameters, so parameters can rise without breaking old entries. */
export interface PasswordHash {
  algorithm: 'scrypt'
  N: number
  r: number
  p: number
  /** base64 */
  salt: string
  /** base64 */
  hash: string
}

/** Throws WeakPasswordError for a password outside the policy; the message never contains the password. */
export function checkPasswordPolicy (password: string): void {
  if (typeof password !== 'string') throw new WeakPasswordError('not a string')
  if ([...password].length < MIN_PASSWORD_LENGTH) throw new WeakPasswordError(`shorter than ${MIN_PASSWORD_LENGTH} characters`)
  if (password.length > MAX_PASSWORD_LENGTH) throw new WeakPasswordError(`longer than ${MAX_PASSWORD_LENGTH} characters`)
}

export async function hashPassword (password: string): Promise<PasswordHash> {
  const salt = randomBytes(SCRYPT_SALT_LENGTH)
  const { N, r, p } = SCRYPT_PARAMS
  const hash = await derive(password, salt, SCRYPT_KEY_LENGTH, N, r, p)
  return { algorithm: 'scrypt', N, r, p, salt: salt.toString('base64'), hash: hash.toString('base64') }
}

/** Constant-time comparison of `password` against a stored hash. */
export async function verifyPassword (password: string, stored: PasswordHash): Promise<boolean> {
  const expected = Buffer.from(stored.hash, 'base64')
  const actual = await derive(password, Buffer.from(stored.salt, 'base64'), expected.length, stored.N, stored.r, stored.p)
  return actual.length === expected.length && timingSafeEqual(actual, expected)
}

/** True when `h` is a hash we can verify without unbounded memory or time (the file could be hand-edited). */
export function isUsableHash (h: unknown): h is PasswordHash {
  if (h == null || typeof h !== 'object') return false
  const { algorithm, N, r, p, salt, hash } = h as Record<string, unknown>
  return algorithm === 'scrypt' &&
    typeof N === 'number' && Number.isInteger(N) && N >= 2 && N <= SCRYPT_MAX_N && (N & (N - 1)) === 0 &&
    typeof r === 'number' && Number.isInteger(r) && r >= 1 && r <= 32 &&
    typeof p === 'number' && Number.isInteger(p) && p >= 1 && p <= 16 &&
    typeof salt === 'string' && salt.length > 0 &&
    typeof hash === 'string' && Buffer.from(hash, 'base64').length >= 16
}

async function derive (password: string, salt: Buffer, keyLength: number, N: number, r: number, p: number): Promise<Buffer> {
  // scrypt needs 128·N·r bytes; Node's default maxmem (32 MiB) is exactly that for N=2^15, r=8 and too tight.
  const maxmem = 2 * 128 * N * r + 1024 * 1024
  return await new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, keyLength, { N, r, p, maxmem }, (err, key) => {
      if (err != null) reject(err)
      else resolve(key)
    })
  })
}

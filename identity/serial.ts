import { randomBytes } from 'node:crypto'
import { SERIAL_BYTES } from './constants.ts'
import { InvalidArgumentError } from './errors.ts'

/**
 * A random certificate serial as hex. The top bits are fixed to 01 so the DER INTEGER is positive
 * without a leading zero byte and never starts with 00: forge, Node and openssl then print the
 * same digits, which the revocation list relies on.
 */
export function randomSerial (): string {
  const bytes = randomBytes(SERIAL_BYTES)
  bytes[0] = (bytes[0] & 0x3f) | 0x40
  return bytes.toString('hex')
}

/** Canonical serial form: lower-case hex without separators or leading zeros. */
export function normalizeSerial (serial: string): string {
  if (typeof serial !== 'string') throw new InvalidArgumentError('serial', 'expected a hex string')
  const hex = serial.replace(/[:\s]/g, '').toLowerCase()
  if (!/^[0-9a-f]{1,40}$/.test(hex)) throw new InvalidArgumentError('serial', 'expected up to 20 bytes of hex')
  return hex.replace(/^0+(?=.)/, '')
}

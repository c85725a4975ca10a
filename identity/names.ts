import { peerIdFromString } from '@libp2p/peer-id'
import { InvalidArgumentError } from './errors.ts'

/** Same rule as the node config's `domain.name` (a DNS label), so a certificate can name any valid domain. */
const DOMAIN_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/

/** Same rule as the node config's `hostname` format. */
const FQDN = /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/

/** Same rule as the node config's `federation.name`. */
const FEDERATION_NAME = /^[A-Za-z0-9._-]{1,64}$/

export function checkDomainName (name: string): string {
  if (typeof name !== 'string' || !DOMAIN_NAME.test(name)) throw new InvalidArgumentError('domain', 'expected a DNS label (lower-case letters, digits, dashes)')
  return name
}

export function checkFqdn (fqdn: string): string {
  if (typeof fqdn !== 'string' || !FQDN.test(fqdn)) throw new InvalidArgumentError('fqdn', 'expected a host name')
  return fqdn.toLowerCase()
}

export function checkFederationName (name: string): string {
  if (typeof name !== 'string' || !FEDERATION_NAME.test(name)) throw new InvalidArgumentError('name', 'expected 1-64 letters, digits, dots, dashes or underscores')
  return name
}

/** Accepts a libp2p peer id string and returns its canonical form (so SANs and comparisons agree). */
export function checkPeerId (peerId: string): string {
  try {
    return peerIdFromString(peerId).toString()
  } catch {
    throw new InvalidArgumentError('peerId', 'not a libp2p peer id')
  }
}

/** Validity in whole days, at least one. */
export function checkValidityDays (days: number): number {
  if (!Number.isInteger(days) || days < 1 || days > 36500) throw new InvalidArgumentError('validityDays', 'expected a whole number of days between 1 and 36500')
  return days
}

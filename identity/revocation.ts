import { sign, verify, X509Certificate } from 'node:crypto'
import { canonicalJson } from './canonical-json.ts'
import { loadCa } from './ca.ts'
import { RevocationListInvalidError } from './errors.ts'
import { normalizeSerial } from './serial.ts'

/**
 * The federation's list of revoked domain certificates, signed by the CA. Plain JSON, so it can be
 * stored and replicated as an entity; any domain checks it with the CA certificate alone.
 *
 * `signature` is base64 RSASSA-PKCS1-v1_5 with SHA-256 by the CA key over the canonical JSON (keys
 * sorted, no whitespace) of the other four fields.
 */
export interface RevocationList {
  /** the CA certificate's SHA-256 fingerprint (`AB:CD:…`), so a list is never checked against another CA */
  issuer: string
  /** canonical serials (lower-case hex, no leading zeros), sorted, without duplicates */
  serials: string[]
  /** ISO 8601 time of signing */
  issuedAt: string
  /** 1 for the first list, +1 for each successor: replicas keep the highest */
  sequence: number
  signature: string
}

export interface CreateRevocationListOptions {
  /** the CA directory (`ca.key`, `ca.crt`) */
  caDir: string
  /** serials to revoke (any hex form: `0A:1B`, upper or lower case) */
  serials: string[]
  /** the current list: its serials are kept (revocation is permanent) and the sequence continues from it */
  previous?: RevocationList
  /** signing time; default now */
  now?: Date
}

/** Signs a new revocation list with the CA key. */
export async function createRevocationList (opts: CreateRevocationListOptions): Promise<RevocationList> {
  const ca = await loadCa(opts.caDir)
  // A tampered or foreign predecessor must not smuggle serials in, or reset the sequence.
  const previous = opts.previous != null ? verifyRevocationList(opts.previous, ca.certPem) : undefined
  const serials = [...new Set([...(previous?.serials ?? []), ...opts.serials.map(normalizeSerial)])].sort()
  const body = {
    issuer: ca.fingerprint,
    serials,
    issuedAt: (opts.now ?? new Date()).toISOString(),
    sequence: (previous?.sequence ?? 0) + 1
  }
  const signature = sign('sha256', Buffer.from(canonicalJson(body)), ca.keyPem).toString('base64')
  return { ...body, signature }
}

const FIELDS = ['issuedAt', 'issuer', 'sequence', 'serials', 'signature']

/**
 * Checks a revocation list (e.g. received from a peer) against the CA certificate and returns it
 * as a fresh, typed object.
 * @throws RevocationListInvalidError for a wrong shape, another CA or a bad signature
 */
export function verifyRevocationList (doc: unknown, caCertPem: string): RevocationList {
  if (doc == null || typeof doc !== 'object' || Array.isArray(doc)) throw new RevocationListInvalidError('not an object')
  const d = doc as Record<string, unknown>
  // Exactly the signed fields: anything extra would travel with the list without being signed.
  const keys = Object.keys(d).sort()
  if (keys.length !== FIELDS.length || keys.some((k, i) => k !== FIELDS[i])) throw new RevocationListInvalidError(`expected exactly the fields ${FIELDS.join(', ')}`)
  const { issuer, serials, issuedAt, sequence, signature } = d
  if (typeof issuer !== 'string') throw new RevocationListInvalidError('issuer is not a string')
  if (!Array.isArray(serials) || !serials.every(s => typeof s === 'string' && /^[0-9a-f]{1,40}$/.test(s) && normalizeSerial(s) === s)) {
    throw new RevocationListInvalidError('serials must be canonical hex strings')
  }
  if (typeof issuedAt !== 'string' || Number.isNaN(Date.parse(issuedAt))) throw new RevocationListInvalidError('issuedAt is not a time')
  if (typeof sequence !== 'number' || !Number.isSafeInteger(sequence) || sequence < 1) throw new RevocationListInvalidError('sequence must be a positive integer')
  if (typeof signature !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(signature)) throw new RevocationListInvalidError('signature is not base64')

  let ca: X509Certificate
  try {
    ca = new X509Certificate(caCertPem)
  } catch {
    throw new RevocationListInvalidError('the CA certificate is not an X.509 certificate in PEM')
  }
  if (issuer !== ca.fingerprint256) throw new RevocationListInvalidError('issued by another CA')
  const body = { issuer, serials: serials as string[], issuedAt, sequence }
  if (!verify('sha256', Buffer.from(canonicalJson(body)), ca.publicKey, Buffer.from(signature, 'base64'))) {
    throw new RevocationListInvalidError('bad signature')
  }
  return { ...body, serials: [...body.serials], signature }
}

const serialSets = new WeakMap<RevocationList, Set<string>>()

/** True when `serial` (any hex form) is on the (verified) list. */
export function isRevoked (list: RevocationList, serial: string): boolean {
  let set = serialSets.get(list)
  if (set == null) {
    set = new Set(list.serials)
    serialSets.set(list, set)
  }
  return set.has(normalizeSerial(serial))
}

/** True when `candidate` should replace `current` (a higher sequence; any list beats none). */
export function isNewerRevocationList (candidate: RevocationList, current: RevocationList | null | undefined): boolean {
  return current == null || candidate.sequence > current.sequence
}

import { X509Certificate } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  DOMAIN_CERT_FILE, DOMAIN_KEY_FILE, DOMAIN_URN_PREFIX, FEDERATION_CA_FILE, PEER_URN_PREFIX, PUBLIC_FILE_MODE,
  SECRET_FILE_MODE
} from './constants.ts'
import { CertInvalidError, CertRevokedError } from './errors.ts'
import { writeFileAtomic } from './atomic-file.ts'
import { checkPeerId } from './names.ts'
import { isRevoked, type RevocationList } from './revocation.ts'
import { normalizeSerial } from './serial.ts'

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1'
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2'

export interface VerifyDomainCertificateOptions {
  /** the peer id the certificate must name (the remote peer of a libp2p connection) */
  peerId?: string
  /** check validity at this time instead of now */
  now?: Date
  /** a verified revocation list (from `verifyRevocationList`); a listed serial throws CertRevokedError */
  revocationList?: RevocationList
}

export interface VerifiedDomainCertificate {
  domain: string
  fqdn: string
  peerId: string
  serial: string
  notAfter: Date
}

/**
 * Checks that `certPem` is a domain certificate issued by the CA in `caCertPem`, valid now (or at
 * `now`), naming `peerId` when given, and not revoked when a list is given.
 * @throws CertInvalidError (its `reason` says why) or CertRevokedError
 */
export function verifyDomainCertificate (certPem: string, caCertPem: string, opts: VerifyDomainCertificateOptions = {}): VerifiedDomainCertificate {
  const cert = parse(certPem, 'certificate')
  const ca = parse(caCertPem, 'CA certificate')
  const now = (opts.now ?? new Date()).getTime()

  // Signature first: nothing below reads fields an attacker could have written.
  if (!ca.ca) throw new CertInvalidError('chain', 'the given CA certificate is not a CA')
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) throw new CertInvalidError('chain', 'not issued by the federation CA')
  checkValidity(ca, now, 'the federation CA')
  checkValidity(cert, now, 'the certificate')

  if (cert.ca) throw new CertInvalidError('not-a-domain-certificate', 'a CA certificate cannot be a domain certificate')
  const eku = cert.keyUsage ?? []
  if (!eku.includes(SERVER_AUTH) || !eku.includes(CLIENT_AUTH)) throw new CertInvalidError('not-a-domain-certificate', 'missing serverAuth/clientAuth usage')
  const san = parseSubjectAltName(cert.subjectAltName)
  const peers = san.URI.filter(u => u.startsWith(PEER_URN_PREFIX)).map(u => u.slice(PEER_URN_PREFIX.length))
  const domains = san.URI.filter(u => u.startsWith(DOMAIN_URN_PREFIX)).map(u => u.slice(DOMAIN_URN_PREFIX.length))
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1]
  if (peers.length !== 1 || domains.length !== 1 || san.DNS.length !== 1 || cn !== domains[0]) {
    throw new CertInvalidError('not-a-domain-certificate', 'expected one peer URI, one domain URI matching the CN and one DNS name')
  }
  const peerId = peers[0]
  if (opts.peerId != null) {
    let expected: string
    try {
      expected = checkPeerId(opts.peerId)
    } catch {
      throw new CertInvalidError('peer-mismatch', 'the expected peer id is malformed')
    }
    if (expected !== peerId) throw new CertInvalidError('peer-mismatch', `issued to peer ${peerId}, presented by ${expected}`, { certPeerId: peerId, peerId: expected })
  }

  const serial = normalizeSerial(cert.serialNumber)
  const domain = domains[0]
  if (opts.revocationList != null && isRevoked(opts.revocationList, serial)) throw new CertRevokedError(serial, domain)
  return { domain, fqdn: san.DNS[0], peerId, serial, notAfter: new Date(cert.validTo) }
}

function parse (pem: string, what: string): X509Certificate {
  try {
    return new X509Certificate(pem)
  } catch {
    throw new CertInvalidError('malformed', `the ${what} is not an X.509 certificate in PEM`)
  }
}

function checkValidity (cert: X509Certificate, now: number, what: string): void {
  const from = Date.parse(cert.validFrom)
  const to = Date.parse(cert.validTo)
  if (Number.isNaN(from) || Number.isNaN(to)) throw new CertInvalidError('malformed', `cannot read the validity of ${what}`)
  if (now < from) throw new CertInvalidError('not-yet-valid', `${what} is valid from ${new Date(from).toISOString()}`)
  if (now > to) throw new CertInvalidError('expired', `${what} expired at ${new Date(to).toISOString()}`)
}

/**
 * Node prints SANs as `DNS:a, URI:b`, quoting (JSON-style) any value with a comma or quote in it, so
 * splitting on ', ' outside quotes recovers the entries.
 */
function parseSubjectAltName (text: string | undefined): { DNS: string[], URI: string[] } {
  const out = { DNS: [] as string[], URI: [] as string[] }
  if (text == null) return out
  const re = /(DNS|URI|[A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/g
  for (const m of text.matchAll(re)) {
    const value = m[2].startsWith('"') ? JSON.parse(m[2]) as string : m[2]
    if (m[1] === 'DNS' || m[1] === 'URI') out[m[1]].push(value)
  }
  return out
}

export interface DomainCertificateFiles {
  certPem: string
  keyPem: string
  caCertPem: string
}

/**
 * Stores a domain's certificate, HTTPS key (0600) and the federation CA certificate in `dir`,
 * replacing older ones atomically (renewal writes over the previous certificate).
 */
export async function writeDomainCertificate (dir: string, files: DomainCertificateFiles): Promise<void> {
  // Key first: a reader that sees the new certificate must not pair it with the old key.
  await writeFileAtomic(join(dir, DOMAIN_KEY_FILE), files.keyPem, SECRET_FILE_MODE)
  await writeFileAtomic(join(dir, DOMAIN_CERT_FILE), files.certPem, PUBLIC_FILE_MODE)
  await writeFileAtomic(join(dir, FEDERATION_CA_FILE), files.caCertPem, PUBLIC_FILE_MODE)
}

/**
 * Reads what `writeDomainCertificate` stored; null when the domain has no certificate yet.
 * @throws CertInvalidError when only some of the files are there (a node must not quietly fall back to HTTP)
 */
export async function readDomainCertificate (dir: string): Promise<DomainCertificateFiles | null> {
  const names = [DOMAIN_CERT_FILE, DOMAIN_KEY_FILE, FEDERATION_CA_FILE]
  const [certPem, keyPem, caCertPem] = await Promise.all(names.map(async f => {
    try {
      return await readFile(join(dir, f), 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
  }))
  if (certPem == null && keyPem == null && caCertPem == null) return null
  if (certPem == null || keyPem == null || caCertPem == null) {
    const missing = names.filter((_f, i) => [certPem, keyPem, caCertPem][i] == null)
    throw new CertInvalidError('malformed', `incomplete certificate files in ${dir}: ${missing.join(', ')} missing`)
  }
  return { certPem, keyPem, caCertPem }
}

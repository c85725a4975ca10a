import { generateKeyPair as generateKeyPairCb, X509Certificate } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import forge from 'node-forge'
import {
  CA_CERT_FILE, CA_KEY_BITS, CA_KEY_FILE, CA_VALIDITY_DAYS, CERT_BACKDATE_MS, DOMAIN_CERT_VALIDITY_DAYS,
  DOMAIN_KEY_BITS, DOMAIN_URN_PREFIX, PEER_URN_PREFIX, PUBLIC_FILE_MODE, SECRET_FILE_MODE
} from './constants.ts'
import { CaExistsError, CaNotFoundError } from './errors.ts'
import { writeFileExclusive } from './atomic-file.ts'
import { checkDomainName, checkFederationName, checkFqdn, checkPeerId, checkValidityDays } from './names.ts'
import { normalizeSerial, randomSerial } from './serial.ts'

const generateKeyPair = promisify(generateKeyPairCb)
const DAY_MS = 86_400_000

export interface InitCaOptions {
  /** directory for `ca.key` and `ca.crt`; created if missing */
  dir: string
  /** the federation's name, used as the CA's common name */
  name: string
  /** default 3650 (ten years) */
  validityDays?: number
}

export interface CaInfo {
  certPem: string
  certFile: string
  keyFile: string
  /** SHA-256 fingerprint as Node prints it (`AB:CD:…`); also the revocation list's `issuer` */
  fingerprint: string
  notAfter: Date
}

/**
 * Creates the federation root: an RSA key (`ca.key`, 0600) and a self-signed CA certificate
 * (`ca.crt`). Refuses to touch an existing CA, since every issued certificate depends on it.
 */
export async function initCa (opts: InitCaOptions): Promise<CaInfo> {
  const name = checkFederationName(opts.name)
  const days = checkValidityDays(opts.validityDays ?? CA_VALIDITY_DAYS)
  const keyFile = join(opts.dir, CA_KEY_FILE)
  const certFile = join(opts.dir, CA_CERT_FILE)
  for (const file of [keyFile, certFile]) {
    if (await exists(file)) throw new CaExistsError(file)
  }

  const { privateKey, publicKey } = await newRsaKeyPair(CA_KEY_BITS)
  const now = Date.now()
  const cert = forge.pki.createCertificate()
  cert.publicKey = publicKey
  cert.serialNumber = randomSerial()
  cert.validity.notBefore = new Date(now - CERT_BACKDATE_MS)
  cert.validity.notAfter = new Date(now + days * DAY_MS)
  const subject = [{ name: 'commonName', value: `${name} federation CA` }, { name: 'organizationName', value: name }]
  cert.setSubject(subject)
  cert.setIssuer(subject)
  cert.setExtensions([
    // pathLen 0: the root signs domain certificates only, never intermediate CAs.
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' }
  ])
  cert.sign(privateKey, forge.md.sha256.create())
  const certPem = forge.pki.certificateToPem(cert)

  // 'wx' on both: a concurrent `ca init` loses instead of overwriting.
  try {
    await writeFileExclusive(keyFile, forge.pki.privateKeyToPem(privateKey), SECRET_FILE_MODE)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new CaExistsError(keyFile)
    throw err
  }
  try {
    await writeFileExclusive(certFile, certPem, PUBLIC_FILE_MODE)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new CaExistsError(certFile)
    throw err
  }
  return { certPem, certFile, keyFile, fingerprint: new X509Certificate(certPem).fingerprint256, notAfter: cert.validity.notAfter }
}

/** A loaded CA: forge objects to sign with, plus the PEM and fingerprint. Internal to identity/. */
export interface LoadedCa {
  cert: forge.pki.Certificate
  key: forge.pki.rsa.PrivateKey
  certPem: string
  keyPem: string
  fingerprint: string
}

/** Reads `ca.key` and `ca.crt` from `dir` and checks that they belong together. */
export async function loadCa (dir: string): Promise<LoadedCa> {
  let certPem: string, keyPem: string
  try {
    certPem = await readFile(join(dir, CA_CERT_FILE), 'utf8')
    keyPem = await readFile(join(dir, CA_KEY_FILE), 'utf8')
  } catch (err) {
    throw new CaNotFoundError(dir, (err as NodeJS.ErrnoException).code === 'ENOENT' ? `${CA_CERT_FILE} or ${CA_KEY_FILE} missing` : 'cannot read the CA files')
  }
  let cert: forge.pki.Certificate, key: forge.pki.rsa.PrivateKey
  try {
    cert = forge.pki.certificateFromPem(certPem)
    key = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey
  } catch {
    // No parser message here: it could quote bytes of the key file.
    throw new CaNotFoundError(dir, 'the CA files are not an RSA certificate and key in PEM')
  }
  const pub = cert.publicKey as forge.pki.rsa.PublicKey
  if (key.n == null || pub.n == null || key.n.compareTo(pub.n) !== 0) throw new CaNotFoundError(dir, `${CA_KEY_FILE} does not match ${CA_CERT_FILE}`)
  return { cert, key, certPem, keyPem, fingerprint: new X509Certificate(certPem).fingerprint256 }
}

export interface IssueDomainCertificateOptions {
  /** the CA directory (`ca.key`, `ca.crt`) */
  caDir: string
  /** the domain's short name (config `domain.name`) */
  domain: string
  /** the host name the domain's API answers on */
  fqdn: string
  /** the domain's libp2p peer id */
  peerId: string
  /** default 365 */
  validityDays?: number
}

export interface IssuedCertificate {
  certPem: string
  /** the new RSA key for the domain's HTTPS server (PKCS#1 PEM); store it 0600 */
  keyPem: string
  /** canonical serial (lower-case hex), the value a revocation list names */
  serial: string
  notAfter: Date
}

/**
 * Issues a domain certificate: CN = domain name, SAN DNS = FQDN, SAN URIs `urn:cmesh:peer:<peerId>` and
 * `urn:cmesh:domain:<name>`, usable as TLS server and client certificate. The key is new and RSA, since
 * node-forge signs RSA only; the libp2p Ed25519 key stays where it is and is bound through the SAN.
 */
export async function issueDomainCertificate (opts: IssueDomainCertificateOptions): Promise<IssuedCertificate> {
  const domain = checkDomainName(opts.domain)
  const fqdn = checkFqdn(opts.fqdn)
  const peerId = checkPeerId(opts.peerId)
  const days = checkValidityDays(opts.validityDays ?? DOMAIN_CERT_VALIDITY_DAYS)
  const ca = await loadCa(opts.caDir)

  const { privateKey, publicKey } = await newRsaKeyPair(DOMAIN_KEY_BITS)
  const now = Date.now()
  const cert = forge.pki.createCertificate()
  cert.publicKey = publicKey
  cert.serialNumber = randomSerial()
  cert.validity.notBefore = new Date(now - CERT_BACKDATE_MS)
  // Never outlive the CA: a chain is only as valid as its root.
  cert.validity.notAfter = new Date(Math.min(now + days * DAY_MS, ca.cert.validity.notAfter.getTime()))
  const federation = ca.cert.subject.getField('O')?.value as string | undefined
  cert.setSubject([{ name: 'commonName', value: domain }, ...(federation != null ? [{ name: 'organizationName', value: federation }] : [])])
  cert.setIssuer(ca.cert.subject.attributes)
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    {
      name: 'subjectAltName',
      altNames: [
        { type: 2, value: fqdn }, // dNSName
        { type: 6, value: `${PEER_URN_PREFIX}${peerId}` }, // uniformResourceIdentifier
        { type: 6, value: `${DOMAIN_URN_PREFIX}${domain}` }
      ]
    },
    { name: 'subjectKeyIdentifier' },
    // forge would compute this from the leaf's own key; it must name the CA's key.
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.cert.generateSubjectKeyIdentifier().getBytes() }
  ])
  cert.sign(ca.key, forge.md.sha256.create())
  return {
    certPem: forge.pki.certificateToPem(cert),
    keyPem: forge.pki.privateKeyToPem(privateKey),
    serial: normalizeSerial(cert.serialNumber),
    notAfter: cert.validity.notAfter
  }
}

/** RSA key pair from Node's native generator (fast, off the main thread), converted for forge. */
async function newRsaKeyPair (bits: number): Promise<{ privateKey: forge.pki.rsa.PrivateKey, publicKey: forge.pki.rsa.PublicKey }> {
  const { privateKey, publicKey } = await generateKeyPair('rsa', {
    modulusLength: bits,
    publicExponent: 0x10001,
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' }
  })
  return {
    privateKey: forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey,
    publicKey: forge.pki.publicKeyFromPem(publicKey) as forge.pki.rsa.PublicKey
  }
}

async function exists (file: string): Promise<boolean> {
  try {
    await stat(file)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
}

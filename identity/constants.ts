/** The domain key's file name inside the data directory. */
export const KEY_FILE_NAME = 'peer.key'

/** Owner read/write only: the key is the domain's identity. */
export const KEY_FILE_MODE = 0o600

// --- Federation CA and domain certificates ---

/** The CA's private key inside the CA directory; it stays with the federation administrator. */
export const CA_KEY_FILE = 'ca.key'

/** The CA's certificate (PEM); every domain needs a copy to check its peers. */
export const CA_CERT_FILE = 'ca.crt'

/** A domain's certificate, its HTTPS key and the federation CA's certificate inside its data directory. */
export const DOMAIN_CERT_FILE = 'domain.crt'
export const DOMAIN_KEY_FILE = 'domain.key'
export const FEDERATION_CA_FILE = 'federation-ca.crt'

/** Private keys (CA, domain HTTPS key) and the user file: owner only, as for the libp2p key. */
export const SECRET_FILE_MODE = 0o600

/** Certificates are public; readable by all so a reverse proxy running as another user can use them. */
export const PUBLIC_FILE_MODE = 0o644

/**
 * 3072-bit RSA for the root: NIST SP 800-57 rates it fit beyond 2030, and the root lives ten years.
 * (node-forge signs X.509 with RSA only, so no Ed25519/ECDSA here.)
 */
export const CA_KEY_BITS = 3072

/** 2048-bit RSA for domain keys: they live a year, and every TLS handshake pays for the size. */
export const DOMAIN_KEY_BITS = 2048

/** Ten years: re-distributing a new root to every domain is the expensive operation, so do it rarely. */
export const CA_VALIDITY_DAYS = 3650

/** One year: a domain renews with `cmesh ca issue`; revocation covers the time in between. */
export const DOMAIN_CERT_VALIDITY_DAYS = 365

/** Certificates start a few minutes in the past so a peer whose clock is slightly behind accepts them. */
export const CERT_BACKDATE_MS = 5 * 60_000

/** 16 random bytes: RFC 5280 allows up to 20 octets; CA/B forum asks for at least 64 bits of entropy. */
export const SERIAL_BYTES = 16

/** SAN URI prefixes that bind a certificate to a libp2p peer id and a domain name. */
export const PEER_URN_PREFIX = 'urn:cmesh:peer:'
export const DOMAIN_URN_PREFIX = 'urn:cmesh:domain:'

// --- Users ---

/** The embedded directory's file name inside the data directory. */
export const USERS_FILE_NAME = 'users.json'

/** Shorter passwords fall to offline guessing even with scrypt (NIST SP 800-63B asks for at least 8). */
export const MIN_PASSWORD_LENGTH = 8

/** An upper bound keeps a hostile client from making us hash megabytes per login attempt. */
export const MAX_PASSWORD_LENGTH = 1024

/** Usernames end up in tokens, logs and LDAP filters; 256 characters is more than any real one. */
export const MAX_USERNAME_LENGTH = 256

/**
 * scrypt N=2^15, r=8, p=1: the OWASP password storage recommendation (~32 MiB and some 50-100 ms per
 * hash here), slow enough for offline guessing, fast enough for a login endpoint.
 */
export const SCRYPT_PARAMS = { N: 2 ** 15, r: 8, p: 1 } as const

/** scrypt output and salt lengths in bytes (256 bits and 128 bits: the usual choice). */
export const SCRYPT_KEY_LENGTH = 32
export const SCRYPT_SALT_LENGTH = 16

/**
 * Largest N we accept from a user file: a tampered or mistyped file must not make one login allocate
 * gigabytes (2^20 with r=8 is already 1 GiB).
 */
export const SCRYPT_MAX_N = 2 ** 20

/** LDAP operations: long enough for a remote directory, short enough that login fails fast with a 503. */
export const LDAP_TIMEOUT_MS = 5000

// --- Tokens ---

/** Access tokens live 15 minutes: they cannot be recalled, so a stolen one must expire soon. */
export const ACCESS_TOKEN_TTL_SEC = 900

/** Refresh tokens live 8 hours: a working day without retyping the password. */
export const REFRESH_TOKEN_TTL_SEC = 8 * 3600

/** Domains' clocks drift; NTP keeps them within a second, 30 s covers a host that missed a sync. */
export const TOKEN_CLOCK_TOLERANCE_SEC = 30

/** Only EdDSA: every domain signs with its Ed25519 libp2p key; anything else is forged or misconfigured. */
export const TOKEN_ALGORITHM = 'EdDSA'

/** JOSE header `typ` values keep an access token from being replayed as a refresh token and back. */
export const ACCESS_TOKEN_TYPE = 'at+jwt'
export const REFRESH_TOKEN_TYPE = 'cmesh-refresh+jwt'

/** Our tokens are a few hundred bytes; refusing huge ones before parsing bounds the work per request. */
export const MAX_TOKEN_LENGTH = 8192

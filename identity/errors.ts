/** Errors of the identity module, each with a stable code. */
export class IdentityError extends Error {
  readonly code: string
  readonly data: Record<string, unknown>

  constructor (code: string, message: string, data: Record<string, unknown> = {}) {
    super(message)
    this.name = 'IdentityError'
    this.code = code
    this.data = data
  }
}

/** The key file exists but is not a private key we can read. */
export class KeyFileError extends IdentityError {
  constructor (file: string, reason: string) {
    super('IDENTITY_BAD_KEY_FILE', `cannot use key file ${file}: ${reason}`, { file })
    this.name = 'KeyFileError'
  }
}

/** An argument is malformed (domain name, FQDN, peer id, username, …); `field` names it. */
export class InvalidArgumentError extends IdentityError {
  constructor (field: string, reason: string) {
    super('IDENTITY_INVALID_ARGUMENT', `invalid ${field}: ${reason}`, { field })
    this.name = 'InvalidArgumentError'
  }
}

// --- CA and certificates ---

/** `initCa` found an existing CA: a second root would orphan every certificate of the first. */
export class CaExistsError extends IdentityError {
  constructor (file: string) {
    super('IDENTITY_CA_EXISTS', `a federation CA already exists (${file}); refusing to overwrite it`, { file })
    this.name = 'CaExistsError'
  }
}

/** The CA directory lacks the CA key or certificate, or they do not belong together. */
export class CaNotFoundError extends IdentityError {
  constructor (dir: string, reason: string) {
    super('IDENTITY_CA_NOT_FOUND', `no usable federation CA in ${dir}: ${reason}`, { dir })
    this.name = 'CaNotFoundError'
  }
}

/** Why a certificate was refused. */
export type CertInvalidReason = 'malformed' | 'chain' | 'expired' | 'not-yet-valid' | 'not-a-domain-certificate' | 'peer-mismatch'

/** A domain certificate does not chain to the CA, is outside its validity, or names another peer. */
export class CertInvalidError extends IdentityError {
  readonly reason: CertInvalidReason

  constructor (reason: CertInvalidReason, detail: string, data: Record<string, unknown> = {}) {
    super('IDENTITY_CERT_INVALID', `domain certificate refused (${reason}): ${detail}`, { ...data, reason })
    this.name = 'CertInvalidError'
    this.reason = reason
  }
}

/** A valid domain certificate whose serial is on the CA's revocation list. */
export class CertRevokedError extends IdentityError {
  constructor (serial: string, domain: string) {
    super('IDENTITY_CERT_REVOKED', `the certificate of domain ${domain} (serial ${serial}) is revoked`, { serial, domain })
    this.name = 'CertRevokedError'
  }
}

/** A revocation list whose signature, issuer or shape does not check out. */
export class RevocationListInvalidError extends IdentityError {
  constructor (reason: string) {
    super('IDENTITY_REVOCATION_LIST_INVALID', `revocation list refused: ${reason}`, { reason })
    this.name = 'RevocationListInvalidError'
  }
}

// --- Users and directories ---

/**
 * Unknown user or wrong password: one error (and one message) for both, so a caller cannot learn
 * which usernames exist.
 */
export class InvalidCredentialsError extends IdentityError {
  constructor () {
    super('IDENTITY_INVALID_CREDENTIALS', 'invalid username or password')
    this.name = 'InvalidCredentialsError'
  }
}

/** The directory cannot answer (server down, timeout, misconfigured service account, corrupt file): a 503, not a 401. */
export class DirectoryUnavailableError extends IdentityError {
  constructor (reason: string, data: Record<string, unknown> = {}) {
    super('IDENTITY_DIRECTORY_UNAVAILABLE', `user directory unavailable: ${reason}`, { ...data, reason })
    this.name = 'DirectoryUnavailableError'
  }
}

/** `addUser` for a username that is taken. */
export class UserExistsError extends IdentityError {
  constructor (username: string) {
    super('IDENTITY_USER_EXISTS', `user ${username} already exists`, { username })
    this.name = 'UserExistsError'
  }
}

/** `setPassword`/`removeUser` for a username that is not in the file. */
export class UserNotFoundError extends IdentityError {
  constructor (username: string) {
    super('IDENTITY_USER_NOT_FOUND', `user ${username} does not exist`, { username })
    this.name = 'UserNotFoundError'
  }
}

/** A new password that breaks the policy (length). The message never contains the password. */
export class WeakPasswordError extends IdentityError {
  constructor (reason: string) {
    super('IDENTITY_WEAK_PASSWORD', `password refused: ${reason}`, { reason })
    this.name = 'WeakPasswordError'
  }
}

/** The embedded directory's file exists but cannot be parsed or has bad entries. */
export class DirectoryFileError extends IdentityError {
  constructor (file: string, reason: string) {
    super('IDENTITY_DIRECTORY_FILE_INVALID', `cannot use user file ${file}: ${reason}`, { file })
    this.name = 'DirectoryFileError'
  }
}

// --- Tokens ---

/** A well-formed, correctly signed token past its expiry: the client should refresh or log in again. */
export class TokenExpiredError extends IdentityError {
  constructor (expiredAt?: Date) {
    super('IDENTITY_TOKEN_EXPIRED', 'token expired', expiredAt != null ? { expiredAt: expiredAt.toISOString() } : {})
    this.name = 'TokenExpiredError'
  }
}

/** Bad signature, algorithm, type, audience or shape. `reason` is for logs; clients just see 401. */
export class TokenInvalidError extends IdentityError {
  constructor (reason: string) {
    super('IDENTITY_TOKEN_INVALID', `token invalid: ${reason}`, { reason })
    this.name = 'TokenInvalidError'
  }
}

/** The token names an issuer that is not a federation member (no public key known for it). */
export class UnknownIssuerError extends IdentityError {
  constructor (issuer: string, reason = 'no public key known for this issuer') {
    super('IDENTITY_UNKNOWN_ISSUER', `token issuer ${JSON.stringify(issuer)} not accepted: ${reason}`, { issuer })
    this.name = 'UnknownIssuerError'
  }
}

/** The token's issuer is a member whose domain was revoked: its tokens die with it. */
export class IssuerRevokedError extends IdentityError {
  constructor (issuer: string) {
    super('IDENTITY_ISSUER_REVOKED', `token issuer ${JSON.stringify(issuer)} is revoked`, { issuer })
    this.name = 'IssuerRevokedError'
  }
}

/** A key handed to the token functions is not an Ed25519 key we can use. */
export class KeyFormatError extends IdentityError {
  constructor (reason: string) {
    super('IDENTITY_BAD_KEY_FORMAT', `unusable Ed25519 key: ${reason}`, { reason })
    this.name = 'KeyFormatError'
  }
}

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

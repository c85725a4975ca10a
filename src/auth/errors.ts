import { CmeshError } from '../errors.ts'

/** No token, or a token that cannot be accepted (401). */
export class UnauthorizedError extends CmeshError {
  constructor (message: string) {
    super('AUTH_UNAUTHORIZED', message)
    this.name = 'UnauthorizedError'
  }
}

/** A valid token whose roles do not allow the request (403). */
export class ForbiddenError extends CmeshError {
  constructor (message: string, data: Record<string, unknown> = {}) {
    super('AUTH_FORBIDDEN', message, data)
    this.name = 'ForbiddenError'
  }
}

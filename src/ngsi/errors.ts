/**
 * NGSI-LD errors. Each class has a stable code; `src/api/problem.ts` maps the code to the HTTP
 * status and the ETSI error type URI (https://uri.etsi.org/ngsi-ld/errors/<Type>).
 */
import { CmeshError } from '../errors.ts'

export class NgsiError extends CmeshError {
  constructor (code: string, message: string, data: Record<string, unknown> = {}) {
    super(code, message, data)
    this.name = 'NgsiError'
  }
}

/** The request is syntactically wrong (bad query parameter, bad q expression, unknown parameter). */
export class InvalidRequestError extends NgsiError {
  constructor (message: string, data: Record<string, unknown> = {}) { super('NGSI_INVALID_REQUEST', message, data); this.name = 'InvalidRequestError' }
}

/** The request body is well-formed JSON but not valid NGSI-LD content. */
export class BadRequestDataError extends NgsiError {
  constructor (message: string, data: Record<string, unknown> = {}) { super('NGSI_BAD_REQUEST_DATA', message, data); this.name = 'BadRequestDataError' }
}

export class AlreadyExistsError extends NgsiError {
  constructor (id: string) { super('NGSI_ALREADY_EXISTS', `${id} already exists`, { id }); this.name = 'AlreadyExistsError' }
}

export class ResourceNotFoundError extends NgsiError {
  constructor (message: string, data: Record<string, unknown> = {}) { super('NGSI_RESOURCE_NOT_FOUND', message, data); this.name = 'ResourceNotFoundError' }
}

export class OperationNotSupportedError extends NgsiError {
  constructor (message: string) { super('NGSI_OPERATION_NOT_SUPPORTED', message); this.name = 'OperationNotSupportedError' }
}

export class TooManyResultsError extends NgsiError {
  constructor (message: string) { super('NGSI_TOO_MANY_RESULTS', message); this.name = 'TooManyResultsError' }
}

export class TooComplexQueryError extends NgsiError {
  constructor (message: string) { super('NGSI_TOO_COMPLEX_QUERY', message); this.name = 'TooComplexQueryError' }
}

export class LdContextNotAvailableError extends NgsiError {
  constructor (url: string, reason: string) {
    super('NGSI_LD_CONTEXT_NOT_AVAILABLE', `@context ${url} is not available: ${reason}`, { url })
    this.name = 'LdContextNotAvailableError'
  }
}

export class NotAcceptableError extends NgsiError {
  constructor (message: string) { super('NGSI_NOT_ACCEPTABLE', message); this.name = 'NotAcceptableError' }
}

export class UnsupportedMediaTypeError extends NgsiError {
  constructor (message: string) { super('NGSI_UNSUPPORTED_MEDIA_TYPE', message); this.name = 'UnsupportedMediaTypeError' }
}

/** A write that could not be replicated: its change, or the entity it makes, is too large for the federation's sync frames. */
export class EntityTooLargeError extends NgsiError {
  constructor (id: string, what: 'change' | 'entity', bytes: number, max: number) {
    super('NGSI_ENTITY_TOO_LARGE', `${what === 'change' ? `the change to ${id}` : `entity ${id} with this write`} would be ${bytes} bytes; at most ${max} can be replicated to other domains`, { id, bytes, max })
    this.name = 'EntityTooLargeError'
  }
}

export class NotImplementedError extends NgsiError {
  constructor (message: string) { super('NGSI_NOT_IMPLEMENTED', message); this.name = 'NotImplementedError' }
}

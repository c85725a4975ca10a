/**
 * One table from error codes to HTTP statuses and ProblemDetails (RFC 9457) types. Every error a
 * route throws ends up here through the single error handler in `server.ts`.
 */
export interface ProblemDetails {
  type: string
  title: string
  status: number
  detail: string
  instance?: string
  [extension: string]: unknown
}

interface ProblemKind { status: number, title: string, type?: string }

const CMESH_TYPE = (code: string): string => `urn:cmesh:error:${code}`
const ETSI = (type: string): string => `https://uri.etsi.org/ngsi-ld/errors/${type}`

/** Error code → status and title. Codes not listed here are internal errors (500). */
export const PROBLEMS: Record<string, ProblemKind> = {
  BAD_REQUEST: { status: 400, title: 'Bad request' },
  NOT_FOUND: { status: 404, title: 'Not found' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'Payload too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type' },
  NOT_ACCEPTABLE: { status: 406, title: 'Not acceptable' },
  CONFIG_INVALID: { status: 500, title: 'Invalid configuration' },
  MESH_NOT_MEMBER: { status: 403, title: 'Not a federation member' },
  SERVICE_UNAVAILABLE: { status: 503, title: 'Service unavailable' },
  TOO_MANY_REQUESTS: { status: 429, title: 'Too many requests' },
  ROUTE_WITHOUT_ROLE: { status: 500, title: 'Route without access rule' },

  // Authentication and authorization
  AUTH_UNAUTHORIZED: { status: 401, title: 'Unauthorized' },
  AUTH_FORBIDDEN: { status: 403, title: 'Forbidden' },
  IDENTITY_INVALID_CREDENTIALS: { status: 401, title: 'Invalid credentials' },
  IDENTITY_DIRECTORY_UNAVAILABLE: { status: 503, title: 'User directory unavailable' },
  IDENTITY_TOKEN_EXPIRED: { status: 401, title: 'Token expired' },
  IDENTITY_TOKEN_INVALID: { status: 401, title: 'Invalid token' },
  IDENTITY_UNKNOWN_ISSUER: { status: 401, title: 'Unknown token issuer' },
  IDENTITY_ISSUER_REVOKED: { status: 401, title: 'Token issuer revoked' },
  IDENTITY_CERT_INVALID: { status: 400, title: 'Invalid certificate' },
  IDENTITY_REVOCATION_LIST_INVALID: { status: 400, title: 'Invalid revocation list' },
  NO_FEDERATION_CA: { status: 409, title: 'No federation CA' },
  INTERNAL: { status: 500, title: 'Internal error' },

  // NGSI-LD (ETSI GS CIM 009 clause 5.5.2 / the broker convention for statuses)
  NGSI_INVALID_REQUEST: { status: 400, title: 'Invalid request', type: ETSI('InvalidRequest') },
  NGSI_BAD_REQUEST_DATA: { status: 400, title: 'Bad request data', type: ETSI('BadRequestData') },
  NGSI_ALREADY_EXISTS: { status: 409, title: 'Already exists', type: ETSI('AlreadyExists') },
  NGSI_OPERATION_NOT_SUPPORTED: { status: 422, title: 'Operation not supported', type: ETSI('OperationNotSupported') },
  NGSI_RESOURCE_NOT_FOUND: { status: 404, title: 'Resource not found', type: ETSI('ResourceNotFound') },
  NGSI_INTERNAL_ERROR: { status: 500, title: 'Internal error', type: ETSI('InternalError') },
  NGSI_TOO_COMPLEX_QUERY: { status: 403, title: 'Too complex query', type: ETSI('TooComplexQuery') },
  NGSI_TOO_MANY_RESULTS: { status: 403, title: 'Too many results', type: ETSI('TooManyResults') },
  NGSI_LD_CONTEXT_NOT_AVAILABLE: { status: 503, title: 'LD context not available', type: ETSI('LdContextNotAvailable') },
  NGSI_NOT_ACCEPTABLE: { status: 406, title: 'Not acceptable', type: ETSI('NotAcceptable') },
  NGSI_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type', type: ETSI('UnsupportedMediaType') },
  NGSI_METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed', type: ETSI('MethodNotAllowed') },
  NGSI_NOT_IMPLEMENTED: { status: 501, title: 'Not implemented', type: ETSI('NotImplemented') },
  NGSI_PAYLOAD_TOO_LARGE: { status: 413, title: 'Request body too large', type: ETSI('InvalidRequest') },
  NGSI_ENTITY_TOO_LARGE: { status: 413, title: 'Change too large to replicate', type: ETSI('InvalidRequest') },
  // The owner of an entity (another domain) could not carry out a write forwarded to it.
  NGSI_OWNER_UNAVAILABLE: { status: 503, title: 'Owning domain unavailable' }
}

/** fastify's own error codes (body parsing, limits, routing) mapped onto ours. */
export const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_VALIDATION: 'BAD_REQUEST'
}

export function problemFor (code: string, detail: string, extra: Record<string, unknown> = {}): ProblemDetails {
  const kind = PROBLEMS[code] ?? PROBLEMS.INTERNAL
  return { type: kind.type ?? CMESH_TYPE(code in PROBLEMS ? code : 'INTERNAL'), title: kind.title, status: kind.status, detail, ...extra }
}

/** Response schema for ProblemDetails bodies (keeps internals such as stacks from leaking). */
export const ProblemSchema = {
  $id: 'ProblemDetails',
  type: 'object',
  required: ['type', 'title', 'status', 'detail'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    instance: { type: 'string' }
  },
  additionalProperties: true
} as const

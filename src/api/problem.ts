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
  INTERNAL: { status: 500, title: 'Internal error' }
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

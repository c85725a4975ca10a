/** A small HTTP client for API tests: one call, parsed answer. */
export interface Answer {
  status: number
  headers: Headers
  text: string
  json: any
}

export interface CallOptions {
  headers?: Record<string, string>
  /** a JSON value (sent with application/json unless headers say otherwise) */
  body?: unknown
  /** a raw body (sent as is) */
  raw?: string
}

export function client (base: string) {
  return async function call (method: string, path: string, opts: CallOptions = {}): Promise<Answer> {
    const headers: Record<string, string> = { ...opts.headers }
    let body: string | undefined
    if (opts.raw != null) body = opts.raw
    else if (opts.body !== undefined) {
      body = JSON.stringify(opts.body)
      headers['content-type'] ??= 'application/json'
    }
    const res = await fetch(base + path, { method, headers, body })
    const text = await res.text()
    let json: unknown
    try { json = text === '' ? undefined : JSON.parse(text) } catch { json = undefined }
    return { status: res.status, headers: res.headers, text, json }
  }
}

export const ETSI = (t: string): string => `https://uri.etsi.org/ngsi-ld/errors/${t}`

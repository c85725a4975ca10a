/**
 * Canonical JSON for signatures: object keys sorted, no whitespace, so signer and verifier produce
 * the same bytes whatever order a store or a JSON library gave the fields. Enough of RFC 8785 for
 * the values we sign (strings, safe integers, arrays, plain objects); anything else is refused.
 */
export function canonicalJson (value: unknown): string {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return JSON.stringify(value)
  if (typeof value === 'number') {
    // Floats serialise differently across languages; the documents we sign only hold integers.
    if (!Number.isSafeInteger(value)) throw new TypeError('canonicalJson: only safe integers are supported')
    return String(value)
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const obj = value as Record<string, unknown>
    const keys = Object.keys(obj).filter(k => obj[k] !== undefined).sort()
    return `{${keys.map(k => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`
  }
  throw new TypeError(`canonicalJson: unsupported value of type ${typeof value}`)
}

/**
 * Errors of the node itself (config, API plumbing). Every error that can reach a client or an
 * operator carries a stable `code`; `src/api/problem.ts` maps codes to HTTP statuses in one table.
 */
export class CmeshError extends Error {
  readonly code: string
  readonly data: Record<string, unknown>

  constructor (code: string, message: string, data: Record<string, unknown> = {}) {
    super(message)
    this.name = 'CmeshError'
    this.code = code
    this.data = data
  }
}

/** A config file that cannot be read, parsed or validated. `issues` holds one line per bad key. */
export class ConfigError extends CmeshError {
  readonly issues: string[]

  constructor (file: string, issues: string[]) {
    super('CONFIG_INVALID', `invalid config ${file}:\n  ${issues.join('\n  ')}`, { file, issues })
    this.name = 'ConfigError'
    this.issues = issues
  }
}

export class NotFoundError extends CmeshError {
  constructor (what: string) {
    super('NOT_FOUND', `${what} not found`)
    this.name = 'NotFoundError'
  }
}

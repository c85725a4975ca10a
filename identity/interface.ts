/** Types other modules see: user directories and the minimal logger the identity module writes to. */

/** A user as a directory knows them after a successful login. */
export interface DirectoryUser {
  /** the directory's spelling of the username (LDAP matches case-insensitively) */
  username: string
  displayName?: string
  /** group names, sorted, without duplicates; map them to roles with `rolesFromGroups` */
  groups: string[]
}

export interface AuthenticateOptions {
  signal?: AbortSignal
}

/**
 * A source of users. Every implementation runs the same contract suite
 * (`test/identity/directory-contract.ts`).
 */
export interface Directory {
  /**
   * Checks a username and password.
   * @throws InvalidCredentialsError for an unknown user or a wrong password (the same error for both)
   * @throws DirectoryUnavailableError when the directory cannot answer (down, timeout, misconfigured)
   */
  authenticate: (username: string, password: string, opts?: AuthenticateOptions) => Promise<DirectoryUser>
  start?: () => Promise<void>
  stop?: () => Promise<void>
}

/**
 * The subset of pino the identity module uses, so callers pass a child logger and tests a memory one.
 * Implementations never put passwords, hashes or keys into the context object or message.
 */
export interface IdentityLogger {
  debug: (obj: Record<string, unknown>, msg: string) => void
  warn: (obj: Record<string, unknown>, msg: string) => void
}

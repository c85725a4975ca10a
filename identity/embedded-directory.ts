import { randomBytes } from 'node:crypto'
import { MAX_PASSWORD_LENGTH, MAX_USERNAME_LENGTH } from './constants.ts'
import { DirectoryFileError, DirectoryUnavailableError, InvalidCredentialsError } from './errors.ts'
import { hashPassword, verifyPassword, type PasswordHash } from './password-hash.ts'
import { readUserFile, sameUsername, type StoredUser } from './user-file.ts'
import type { AuthenticateOptions, Directory, DirectoryUser, IdentityLogger } from './interface.ts'

export interface EmbeddedDirectoryInit {
  /** the user file (see `addUser`); a missing file is an empty directory */
  file: string
}

export interface EmbeddedDirectoryComponents {
  logger?: IdentityLogger
}

/**
 * The default directory: users in a local JSON file with scrypt hashes. The file is read on each
 * login, so `cmesh user add|passwd|rm` take effect without restarting the node.
 */
export class EmbeddedDirectory implements Directory {
  private readonly file: string
  private readonly log?: IdentityLogger
  private dummy?: Promise<PasswordHash>

  constructor (init: EmbeddedDirectoryInit, components: EmbeddedDirectoryComponents = {}) {
    this.file = init.file
    this.log = components.logger
  }

  /** Reads the file once so a corrupt one fails the node's start instead of every login. */
  async start (): Promise<void> {
    const users = await readUserFile(this.file)
    if (users.length === 0) this.log?.warn({ file: this.file }, 'embedded user directory is empty: nobody can log in')
    else this.log?.debug({ file: this.file, users: users.length }, 'embedded user directory loaded')
  }

  async stop (): Promise<void> {}

  async authenticate (username: string, password: string, opts: AuthenticateOptions = {}): Promise<DirectoryUser> {
    opts.signal?.throwIfAborted()
    if (typeof username !== 'string' || typeof password !== 'string' || username === '' || password === '' ||
      username.length > MAX_USERNAME_LENGTH || password.length > MAX_PASSWORD_LENGTH) {
      throw new InvalidCredentialsError()
    }
    let users: StoredUser[]
    try {
      users = await readUserFile(this.file)
    } catch (err) {
      if (err instanceof DirectoryFileError) throw new DirectoryUnavailableError('the user file is unreadable', { file: this.file })
      throw err
    }
    const user = users.find(u => sameUsername(u.username, username))
    // An unknown user costs one scrypt too, so response time does not tell which usernames exist.
    const ok = await verifyPassword(password, user?.password ?? await this.dummyHash())
    opts.signal?.throwIfAborted()
    if (user == null || !ok) {
      this.log?.debug({ directory: 'embedded' }, 'login refused')
      throw new InvalidCredentialsError()
    }
    this.log?.debug({ directory: 'embedded', username: user.username }, 'login accepted')
    return { username: user.username, ...(user.displayName != null ? { displayName: user.displayName } : {}), groups: [...new Set(user.groups)].sort() }
  }

  private async dummyHash (): Promise<PasswordHash> {
    this.dummy ??= hashPassword(randomBytes(18).toString('base64'))
    return await this.dummy
  }
}

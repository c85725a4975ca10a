import { strict as assert } from 'node:assert'
import { chmod, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  addUser, EmbeddedDirectory, listUsers, removeUser, setPassword, USERS_FILE_NAME, type ListedUser
} from '../../identity/index.ts'
import { directoryContract } from './directory-contract.ts'
import { CONTRACT_USERS, cleanupTempDirs, rejectsWithCode, tempDir } from './fixtures.ts'

describe('identity: embedded directory', () => {
  let file: string
  let directory: EmbeddedDirectory

  before(async () => {
    file = join(await tempDir(), USERS_FILE_NAME)
    for (const u of CONTRACT_USERS) await addUser(file, u)
    directory = new EmbeddedDirectory({ file })
    await directory.start()
  })
  after(cleanupTempDirs)

  directoryContract('embedded', () => directory)

  describe('the user file', () => {
    it('is written with mode 0600 and stores scrypt hashes with per-user salt and parameters', async () => {
      assert.equal((await stat(file)).mode & 0o777, 0o600)
      const doc = JSON.parse(await readFile(file, 'utf8'))
      assert.equal(doc.version, 1)
      const salts = new Set<string>()
      for (const u of doc.users) {
        assert.deepEqual(Object.keys(u.password).sort(), ['N', 'algorithm', 'hash', 'p', 'r', 'salt'])
        assert.equal(u.password.algorithm, 'scrypt')
        assert.ok(u.password.N >= 2 ** 14)
        salts.add(u.password.salt)
      }
      assert.equal(salts.size, doc.users.length)
      const text = await readFile(file, 'utf8')
      for (const u of CONTRACT_USERS) assert.ok(!text.includes(u.password))
    })

    it('gives the same password two different hashes', async () => {
      const f = join(await tempDir(), USERS_FILE_NAME)
      await addUser(f, { username: 'u1', password: 'same-password-1' })
      await addUser(f, { username: 'u2', password: 'same-password-1' })
      const [a, b] = JSON.parse(await readFile(f, 'utf8')).users
      assert.notEqual(a.password.hash, b.password.hash)
    })

    it('is replaced atomically: a new inode each write, no temp files left, 0600 even if loosened before', async () => {
      const f = join(await tempDir(), USERS_FILE_NAME)
      await addUser(f, { username: 'dave', password: 'dave-password' })
      await chmod(f, 0o644)
      const before = (await stat(f)).ino
      await addUser(f, { username: 'erin', password: 'erin-password' })
      const after = await stat(f)
      assert.notEqual(after.ino, before)
      assert.equal(after.mode & 0o777, 0o600)
      assert.deepEqual(await readdir(join(f, '..')), [USERS_FILE_NAME])
    })

    it('keeps every user when several are added at once', async () => {
      const f = join(await tempDir(), USERS_FILE_NAME)
      const names = ['u1', 'u2', 'u3', 'u4', 'u5']
      await Promise.all(names.map(async n => await addUser(f, { username: n, password: `${n}-password` })))
      assert.deepEqual((await listUsers(f)).map(u => u.username), names)
    })
  })

  describe('management (cmesh user add|passwd|rm)', () => {
    let f: string
    before(async () => { f = join(await tempDir(), USERS_FILE_NAME) })

    it('adds a user who can then log in, and refuses a duplicate (case-insensitively)', async () => {
      const added = await addUser(f, { username: 'frank', password: 'frank-password', groups: ['viewer', 'operator', 'viewer'], displayName: 'Frank' })
      assert.deepEqual(added, { username: 'frank', displayName: 'Frank', groups: ['operator', 'viewer'] })
      const user = await new EmbeddedDirectory({ file: f }).authenticate('frank', 'frank-password')
      assert.deepEqual(user.groups, ['operator', 'viewer'])
      await rejectsWithCode(addUser(f, { username: 'frank', password: 'another-password' }), 'IDENTITY_USER_EXISTS')
      await rejectsWithCode(addUser(f, { username: 'FRANK', password: 'another-password' }), 'IDENTITY_USER_EXISTS')
    })

    it('refuses passwords shorter than 8 characters without quoting them', async () => {
      const err = await rejectsWithCode(addUser(f, { username: 'gina', password: 'short7!' }), 'IDENTITY_WEAK_PASSWORD')
      assert.ok(!err.message.includes('short7!'))
      await rejectsWithCode(addUser(f, { username: 'gina', password: '' }), 'IDENTITY_WEAK_PASSWORD')
      // Eight characters, counted as characters rather than UTF-16 units.
      await addUser(f, { username: 'gina', password: 'pässwörd' })
      await rejectsWithCode(setPassword(f, 'gina', '1234567'), 'IDENTITY_WEAK_PASSWORD')
    })

    it('refuses usernames that are not plain identifiers', async () => {
      for (const username of ['', '*', 'a b', 'x)(uid=*', '-dash', 'a'.repeat(300)]) {
        await rejectsWithCode(addUser(f, { username, password: 'long-enough-password' }), 'IDENTITY_INVALID_ARGUMENT')
      }
    })

    it('changes a password: the old one stops working, the new one works', async () => {
      const d = new EmbeddedDirectory({ file: f })
      await addUser(f, { username: 'hank', password: 'hank-old-password' })
      await setPassword(f, 'hank', 'hank-new-password')
      await rejectsWithCode(d.authenticate('hank', 'hank-old-password'), 'IDENTITY_INVALID_CREDENTIALS')
      assert.equal((await d.authenticate('hank', 'hank-new-password')).username, 'hank')
      await rejectsWithCode(setPassword(f, 'nobody', 'some-password'), 'IDENTITY_USER_NOT_FOUND')
    })

    it('removes a user, who then cannot log in', async () => {
      await addUser(f, { username: 'ivan', password: 'ivan-password' })
      await removeUser(f, 'ivan')
      await rejectsWithCode(new EmbeddedDirectory({ file: f }).authenticate('ivan', 'ivan-password'), 'IDENTITY_INVALID_CREDENTIALS')
      await rejectsWithCode(removeUser(f, 'ivan'), 'IDENTITY_USER_NOT_FOUND')
    })

    it('lists users without hashes, salts or parameters', async () => {
      const users: ListedUser[] = await listUsers(f)
      assert.ok(users.length >= 3)
      for (const u of users) assert.deepEqual(Object.keys(u).filter(k => !['username', 'displayName', 'groups'].includes(k)), [])
      const text = JSON.stringify(users)
      for (const word of ['hash', 'salt', 'scrypt', 'password']) assert.ok(!text.includes(word), word)
    })
  })

  describe('file problems', () => {
    it('treats a missing file as an empty directory', async () => {
      const d = new EmbeddedDirectory({ file: join(await tempDir(), 'none.json') })
      await d.start()
      await rejectsWithCode(d.authenticate('alice', 'alice-password'), 'IDENTITY_INVALID_CREDENTIALS')
      assert.deepEqual(await listUsers(join(await tempDir(), 'none.json')), [])
    })

    it('fails start() on a corrupt file and answers logins with DirectoryUnavailableError', async () => {
      const f = join(await tempDir(), USERS_FILE_NAME)
      await writeFile(f, '{"version":1,"users":[{"username":"x"}]}')
      const d = new EmbeddedDirectory({ file: f })
      await rejectsWithCode(d.start(), 'IDENTITY_DIRECTORY_FILE_INVALID')
      await rejectsWithCode(d.authenticate('x', 'whatever-password'), 'IDENTITY_DIRECTORY_UNAVAILABLE')
      await writeFile(f, 'not json')
      await rejectsWithCode(d.authenticate('x', 'whatever-password'), 'IDENTITY_DIRECTORY_UNAVAILABLE')
    })

    it('refuses a hand-edited hash whose parameters would exhaust memory', async () => {
      const f = join(await tempDir(), USERS_FILE_NAME)
      await addUser(f, { username: 'jill', password: 'jill-password' })
      const doc = JSON.parse(await readFile(f, 'utf8'))
      doc.users[0].password.N = 2 ** 24
      await writeFile(f, JSON.stringify(doc))
      await rejectsWithCode(new EmbeddedDirectory({ file: f }).authenticate('jill', 'jill-password'), 'IDENTITY_DIRECTORY_UNAVAILABLE')
    })
  })
})

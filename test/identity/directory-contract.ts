/**
 * The contract every Directory implementation passes. A spec file loads `CONTRACT_USERS` into its
 * backend, then calls `directoryContract('name', () => directory)` inside its describe block.
 */
import { strict as assert } from 'node:assert'
import type { Directory, DirectoryUser } from '../../identity/index.ts'
import { CONTRACT_USERS, rejectsWithCode } from './fixtures.ts'

const [alice, bob, carol] = CONTRACT_USERS
const INVALID = 'IDENTITY_INVALID_CREDENTIALS'

/** Usernames that match alice (or everyone) if a backend puts them into a filter unescaped. */
const INJECTIONS = [
  '*',
  'al*',
  '*)(uid=*',
  'alice)(|(uid=*)',
  '*)(|(objectClass=*',
  'alice)(objectClass=*',
  '(uid=alice)',
  'alice\\',
  'alice\u0000',
  'alice\\2a'
]

function sameGroups (user: DirectoryUser, expected: readonly string[]): void {
  assert.deepEqual(user.groups, [...expected].sort())
}

export function directoryContract (name: string, getDirectory: () => Directory): void {
  describe(`Directory contract: ${name}`, () => {
    it('accepts a valid login and returns the user with display name and groups', async () => {
      const user = await getDirectory().authenticate(alice.username, alice.password)
      assert.equal(user.username, alice.username)
      assert.equal(user.displayName, alice.displayName)
      sameGroups(user, alice.groups)
    })

    it('returns an empty group list for a user without groups', async () => {
      const user = await getDirectory().authenticate(carol.username, carol.password)
      assert.equal(user.username, carol.username)
      assert.deepEqual(user.groups, [])
    })

    it('accepts a password full of filter syntax (spaces, parentheses, stars, backslash)', async () => {
      const user = await getDirectory().authenticate(bob.username, bob.password)
      sameGroups(user, bob.groups)
    })

    it('returns nothing but username, display name and groups', async () => {
      const user = await getDirectory().authenticate(alice.username, alice.password)
      assert.deepEqual(Object.keys(user).sort(), ['displayName', 'groups', 'username'])
      assert.ok(!JSON.stringify(user).includes(alice.password))
    })

    it('refuses a wrong password with InvalidCredentialsError', async () => {
      await rejectsWithCode(getDirectory().authenticate(alice.username, 'not-the-password'), INVALID)
      await rejectsWithCode(getDirectory().authenticate(alice.username, alice.password.toUpperCase()), INVALID)
      await rejectsWithCode(getDirectory().authenticate(alice.username, bob.password), INVALID)
    })

    it('refuses an unknown user with the very same error and message as a wrong password', async () => {
      const unknown = await rejectsWithCode(getDirectory().authenticate('mallory', 'some-password-1'), INVALID)
      const wrong = await rejectsWithCode(getDirectory().authenticate(alice.username, 'some-password-1'), INVALID)
      assert.equal(unknown.constructor, wrong.constructor)
      assert.equal(unknown.message, wrong.message)
      assert.deepEqual(unknown.data, wrong.data)
    })

    it('refuses an empty password (an LDAP unauthenticated bind is not a login) and an empty username', async () => {
      for (const u of CONTRACT_USERS) await rejectsWithCode(getDirectory().authenticate(u.username, ''), INVALID)
      await rejectsWithCode(getDirectory().authenticate('', alice.password), INVALID)
      await rejectsWithCode(getDirectory().authenticate('', ''), INVALID)
    })

    it('refuses filter injection in the username', async () => {
      for (const username of INJECTIONS) {
        await rejectsWithCode(getDirectory().authenticate(username, alice.password), INVALID)
      }
    })

    it('refuses wildcards as the password', async () => {
      for (const password of ['*', '\\2a', '*)(uid=*']) {
        await rejectsWithCode(getDirectory().authenticate(alice.username, password), INVALID)
      }
    })

    it('answers concurrent logins independently', async () => {
      const attempts = [...CONTRACT_USERS, ...CONTRACT_USERS].flatMap(u => [
        { user: u, password: u.password, ok: true },
        { user: u, password: `${u.password}x`, ok: false }
      ])
      const results = await Promise.allSettled(attempts.map(async a => await getDirectory().authenticate(a.user.username, a.password)))
      results.forEach((r, i) => {
        const a = attempts[i]
        if (a.ok) {
          assert.equal(r.status, 'fulfilled', `${a.user.username} should log in`)
          assert.equal((r as PromiseFulfilledResult<DirectoryUser>).value.username, a.user.username)
          sameGroups((r as PromiseFulfilledResult<DirectoryUser>).value, a.user.groups)
        } else {
          assert.equal(r.status, 'rejected')
          assert.equal(((r as PromiseRejectedResult).reason as { code: string }).code, INVALID)
        }
      })
    })

    it('stops at an aborted signal', async () => {
      await assert.rejects(getDirectory().authenticate(alice.username, alice.password, { signal: AbortSignal.abort() }), { name: 'AbortError' })
    })
  })
}

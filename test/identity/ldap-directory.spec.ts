import { strict as assert } from 'node:assert'
import { createServer, type Server, type Socket } from 'node:net'
import { LdapDirectory, type LdapDirectoryInit } from '../../identity/index.ts'
import { freePort, startSlapd, type Slapd } from '../helpers/slapd.ts'
import { directoryContract } from './directory-contract.ts'
import { CONTRACT_USERS, memoryLogger, rejectsWithCode } from './fixtures.ts'
import { contractLdif, SERVICE_PASSWORD } from './ldap-fixtures.ts'

const UNAVAILABLE = 'IDENTITY_DIRECTORY_UNAVAILABLE'

describe('identity: LDAP directory (real slapd)', () => {
  let ldap: Slapd
  let config: LdapDirectoryInit

  before(async () => {
    // memberOf overlay on: the same server serves both ways of reading groups.
    ldap = await startSlapd({ memberOf: true })
    await ldap.addLdif(await contractLdif(ldap))
    config = {
      url: ldap.url,
      bindDN: `cn=cmesh-reader,${ldap.suffix}`,
      bindPassword: SERVICE_PASSWORD,
      userBase: ldap.peopleDN,
      groupBase: ldap.groupsDN,
      timeoutMs: 2000
    }
  })
  after(async () => { await ldap?.stop() })

  describe('groups from a (member={dn}) search', () => {
    let directory: LdapDirectory
    before(() => { directory = new LdapDirectory(config) })
    directoryContract('LDAP, group search', () => directory)
  })

  describe('groups from memberOf only, anonymous search', () => {
    let directory: LdapDirectory
    before(() => {
      const { bindDN, bindPassword, groupBase, ...rest } = config
      directory = new LdapDirectory(rest)
    })
    directoryContract('LDAP, memberOf', () => directory)
  })

  describe('configuration and failures', () => {
    it('reads a custom group name attribute and user filter', async () => {
      const d = new LdapDirectory({ ...config, userFilter: '(&(objectClass=inetOrgPerson)(uid={username}))', groupNameAttribute: 'cn', groupFilter: '(&(objectClass=groupOfNames)(member={dn}))' })
      const user = await d.authenticate('alice', CONTRACT_USERS[0].password)
      assert.deepEqual(user.groups, ['Vertical deployer', 'admin'])
    })

    it('matches usernames case-insensitively and returns the directory\'s spelling', async () => {
      const user = await new LdapDirectory(config).authenticate('ALICE', CONTRACT_USERS[0].password)
      assert.equal(user.username, 'alice')
    })

    it('refuses a login when the user filter matches several entries', async () => {
      const d = new LdapDirectory({ ...config, userFilter: '(|(uid={username})(uid=bob))' })
      await rejectsWithCode(d.authenticate('alice', CONTRACT_USERS[0].password), 'IDENTITY_INVALID_CREDENTIALS')
    })

    it('reports a rejected service account as unavailable (503), not as the user\'s fault', async () => {
      const d = new LdapDirectory({ ...config, bindPassword: 'wrong-service-password' })
      const err = await rejectsWithCode(d.authenticate('alice', CONTRACT_USERS[0].password), UNAVAILABLE)
      assert.match(err.message, /service account/)
    })

    it('reports a missing user base as unavailable', async () => {
      const d = new LdapDirectory({ ...config, userBase: `ou=nowhere,${ldap.suffix}` })
      await rejectsWithCode(d.authenticate('alice', CONTRACT_USERS[0].password), UNAVAILABLE)
    })

    it('refuses bad configuration at construction', () => {
      assert.throws(() => new LdapDirectory({ ...config, url: 'http://x' }), { code: 'IDENTITY_INVALID_ARGUMENT' })
      assert.throws(() => new LdapDirectory({ ...config, userFilter: '(uid=alice)' }), { code: 'IDENTITY_INVALID_ARGUMENT' })
      assert.throws(() => new LdapDirectory({ ...config, bindPassword: undefined }), { code: 'IDENTITY_INVALID_ARGUMENT' })
    })

    it('warns at start about plain ldap:// to a remote host', async () => {
      const { logger, lines } = memoryLogger()
      await new LdapDirectory({ ...config, url: 'ldap://ldap.example.org:389' }, { logger }).start()
      await new LdapDirectory(config, { logger }).start()
      assert.equal(lines.length, 1)
      assert.match(lines[0], /unencrypted/)
    })

    it('fails fast with DirectoryUnavailableError on a closed port', async () => {
      const port = await freePort()
      const started = Date.now()
      await rejectsWithCode(new LdapDirectory({ ...config, url: `ldap://127.0.0.1:${port}` }).authenticate('alice', CONTRACT_USERS[0].password), UNAVAILABLE)
      assert.ok(Date.now() - started < 1000)
    })

    it('gives up after timeoutMs on a server that accepts but never answers', async () => {
      const sockets = new Set<Socket>()
      const silent: Server = createServer(s => { sockets.add(s); s.on('error', () => {}) })
      await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve))
      try {
        const port = (silent.address() as { port: number }).port
        const started = Date.now()
        const err = await rejectsWithCode(new LdapDirectory({ ...config, url: `ldap://127.0.0.1:${port}`, timeoutMs: 300 }).authenticate('alice', CONTRACT_USERS[0].password), UNAVAILABLE)
        const took = Date.now() - started
        assert.ok(took >= 250 && took < 1500, `took ${took} ms`)
        assert.ok(!err.message.includes(SERVICE_PASSWORD))
      } finally {
        for (const s of sockets) s.destroy()
        await new Promise(resolve => silent.close(resolve))
      }
    })

    // Last: it stops the server for good.
    it('answers DirectoryUnavailableError quickly once the server is stopped', async () => {
      const d = new LdapDirectory(config)
      assert.equal((await d.authenticate('bob', CONTRACT_USERS[1].password)).username, 'bob')
      await ldap.stop()
      const started = Date.now()
      await rejectsWithCode(d.authenticate('bob', CONTRACT_USERS[1].password), UNAVAILABLE)
      assert.ok(Date.now() - started < 1000)
    })
  })
})

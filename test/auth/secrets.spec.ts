import { strict as assert } from 'node:assert'
import { api, cleanup, LOG_LINES, nodeFor, prepareDomain, SECRETS } from '../helpers/index.ts'
import { addUsers, USERS } from './fixtures.ts'

/**
 * Secrets stay out of logs and responses. The root hook (test/helpers/root-hooks.ts) checks the
 * logs of the whole run; this suite makes sure the check has something to look at, and that the
 * usual ways a secret could slip in (a failed login, a logged object with a password member, an
 * error answer) do not let it through.
 */
describe('secrets never in logs or responses', function () {
  this.timeout(60_000)
  after(cleanup)

  it('logins, good and bad, leave audit and debug lines but no password', async () => {
    const d = await prepareDomain('secrets')
    await addUsers(d)
    const node = nodeFor(d, { members: [], auth: true })
    const from = LOG_LINES.length
    await node.start()
    const u = USERS.admin
    const ok = await api(node, 'POST', '/auth/v1/token', { username: u.username, password: u.password })
    assert.equal(ok.status, 200)
    const bad = await api(node, 'POST', '/auth/v1/token', { username: u.username, password: `${u.password}-typo` })
    assert.equal(bad.status, 401)
    assert.ok(!JSON.stringify(bad.body).includes(u.password), 'the error answer does not echo the password')
    const token = ok.body.access_token as string
    assert.equal((await api(node, 'POST', '/ngsi-ld/v1/entities', { id: 'urn:ngsi-ld:Room:s', type: 'Room' }, { authorization: `Bearer ${token}` })).status, 201)
    node.log.info({ password: u.password, nested: { password: u.password, authorization: `Bearer ${token}` } }, 'a careless log call')
    await node.stop()
    const lines = LOG_LINES.slice(from)
    assert.ok(lines.length > 10, `only ${lines.length} log lines`)
    assert.ok(lines.some(l => l.includes('"component":"audit"') && l.includes('/ngsi-ld/v1/entities')), 'the write was audited')
    assert.ok(lines.some(l => l.includes('a careless log call') && l.includes('[redacted]')), 'known secret fields are redacted')
    const leaks = lines.filter(l => [...SECRETS, token].some(s => l.includes(s)))
    assert.deepEqual(leaks, [])
  })
})

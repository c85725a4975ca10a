import { strict as assert } from 'node:assert'
import type { ContinuumNode } from '../../src/node.ts'
import { allows, describeAuth, type RouteEntry } from '../../src/auth/plugin.ts'
import { ROLES, type Role } from '../../identity/index.ts'
import { api, cleanup, nodeFor, prepareDomain } from '../helpers/index.ts'
import { addUsers, login } from './fixtures.ts'

const PARAMS: Record<string, string> = {
  entityId: encodeURIComponent('urn:ngsi-ld:Room:rbac'),
  attrId: 'temperature',
  type: 'Room',
  id: encodeURIComponent('urn:ngsi-ld:Subscription:rbac'),
  subscriptionId: encodeURIComponent('urn:ngsi-ld:Subscription:rbac')
}

function concrete (url: string): string {
  return url.replace(/:(\w+)/g, (_m, name: string) => PARAMS[name] ?? 'x')
}

/**
 * Every route of the REST API, taken from the node's own route table (so a route added later is
 * swept too), called without a token, with a bad token and with a token of each role: public
 * routes never answer 401/403; the others answer 401 without a valid token, 403 when the role is
 * too small, and something else when it suffices.
 */
describe('RBAC: every route × every role', function () {
  this.timeout(120_000)
  let node: ContinuumNode
  let routes: RouteEntry[]
  const tokens = new Map<Role, string>()

  before(async () => {
    const d = await prepareDomain('rbac')
    await addUsers(d)
    node = nodeFor(d, { members: [], auth: true })
    await node.start()
    for (const r of ROLES) tokens.set(r, await login(node, r))
    routes = node.routes()
  })

  after(cleanup)

  it('every route declares who may call it (the OpenAPI UI\'s own routes are public)', () => {
    assert.ok(routes.length > 20, `only ${routes.length} routes in the table`)
    const undeclared = routes.filter(r => r.auth == null && !r.url.startsWith('/docs')).map(r => `${r.method} ${r.url}`)
    assert.deepEqual(undeclared, [])
  })

  it('sweeps every route with no token, a bad token and each role', async () => {
    const problems: string[] = []
    for (const r of routes) {
      if (r.url.startsWith('/docs')) continue
      const path = concrete(r.url)
      const body = ['POST', 'PUT', 'PATCH'].includes(r.method) ? {} : undefined
      const declared = r.auth ?? 'public'
      const check = (who: string, status: number, expected: 'ok' | 401 | 403): void => {
        const ok = expected === 'ok' ? status !== 401 && status !== 403 : status === expected
        if (!ok) problems.push(`${r.method} ${r.url} (${describeAuth(declared)}) as ${who}: got ${status}, expected ${expected === 'ok' ? 'not 401/403' : expected}`)
      }
      // The token endpoints are rate-limited: a sweep must not lock itself out.
      if (r.url.startsWith('/auth/v1/') && declared === 'public') {
        check('nobody', (await api(node, r.method, path, body)).status, 'ok')
        continue
      }
      check('nobody', (await api(node, r.method, path, body)).status, declared === 'public' ? 'ok' : 401)
      check('a bad token', (await api(node, r.method, path, body, { authorization: 'Bearer not.a.token' })).status, declared === 'public' ? 'ok' : 401)
      for (const role of ROLES) {
        const status = (await api(node, r.method, path, body, { authorization: `Bearer ${tokens.get(role) as string}` })).status
        check(role, status, declared === 'public' || allows(declared, [role]) ? 'ok' : 403)
      }
    }
    assert.deepEqual(problems, [])
  })

  it('401 answers carry a WWW-Authenticate challenge and ProblemDetails', async () => {
    const res = await api(node, 'GET', '/mesh/v1/peers')
    assert.equal(res.status, 401)
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/)
    assert.equal(res.body.status, 401)
    assert.match(res.body.detail, /bearer token is required/)
  })

  const as = (role: Role) => ({ authorization: `Bearer ${tokens.get(role) as string}` })
  const service = { id: 'urn:ngsi-ld:Service:s1', type: 'Service', actionType: { type: 'Property', value: 'Deploying' }, hasOverlay: { type: 'Property', value: false } }
  const ie = { id: 'urn:ngsi-ld:InfrastructureElement:rbac:1', type: 'InfrastructureElement', cpuCores: { type: 'Property', value: 4 } }

  it('deployers commission workloads but not infrastructure; operators the reverse; admins both', async () => {
    assert.equal((await api(node, 'POST', '/ngsi-ld/v1/entities', service, as('deployer'))).status, 201)
    assert.equal((await api(node, 'POST', '/ngsi-ld/v1/entities', ie, as('deployer'))).status, 403)
    assert.equal((await api(node, 'POST', '/ngsi-ld/v1/entities', ie, as('operator'))).status, 201)
    assert.equal((await api(node, 'PATCH', `/ngsi-ld/v1/entities/${encodeURIComponent(service.id)}/attrs`, { actionType: { type: 'Property', value: 'Deployed' } }, as('operator'))).status, 403)
    assert.equal((await api(node, 'DELETE', `/ngsi-ld/v1/entities/${encodeURIComponent(ie.id)}`, undefined, as('deployer'))).status, 403)
    assert.equal((await api(node, 'DELETE', `/ngsi-ld/v1/entities/${encodeURIComponent(service.id)}`, undefined, as('admin'))).status, 204)
    assert.equal((await api(node, 'GET', `/ngsi-ld/v1/entities/${encodeURIComponent(ie.id)}`, undefined, as('viewer'))).status, 200)
    assert.equal((await api(node, 'POST', '/ngsi-ld/v1/entities', { id: 'urn:ngsi-ld:Room:v', type: 'Room' }, as('viewer'))).status, 403)
  })

  it('a batch reports the entities a role may not write as 403 errors and writes the rest', async () => {
    const res = await api(node, 'POST', '/ngsi-ld/v1/entityOperations/upsert', [
      { ...service, id: 'urn:ngsi-ld:Service:s2' },
      { ...ie, id: 'urn:ngsi-ld:InfrastructureElement:rbac:2' }
    ], as('deployer'))
    assert.equal(res.status, 207)
    assert.deepEqual(res.body.success, ['urn:ngsi-ld:Service:s2'])
    assert.equal(res.body.errors[0].entityId, 'urn:ngsi-ld:InfrastructureElement:rbac:2')
    assert.equal(res.body.errors[0].error.status, 403)
    assert.equal((await api(node, 'GET', '/ngsi-ld/v1/entities/urn:ngsi-ld:InfrastructureElement:rbac:2', undefined, as('admin'))).status, 404)
  })

  it('/auth/v1/whoami shows the caller, and a wrong password is 401 without saying which part was wrong', async () => {
    const me = await api(node, 'GET', '/auth/v1/whoami', undefined, as('operator'))
    assert.deepEqual(me.body, { subject: 'olga', roles: ['operator'], issuer: 'rbac' })
    const bad = await api(node, 'POST', '/auth/v1/token', { username: 'olga', password: 'wrong-password' })
    const unknown = await api(node, 'POST', '/auth/v1/token', { username: 'nobody', password: 'wrong-password' })
    assert.equal(bad.status, 401)
    assert.equal(unknown.status, 401)
    assert.equal(bad.body.detail, unknown.body.detail)
  })

  it('security headers are set: a lean set on the API, helmet\'s full set on the OpenAPI UI', async () => {
    const res = await api(node, 'GET', '/health')
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff')
    assert.equal(res.headers.get('x-frame-options'), 'DENY')
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/)
    assert.equal(res.body.auth, 'enabled')
    const docs = await fetch(`${node.apiUrl}/docs/json`)
    assert.equal(docs.headers.get('x-content-type-options'), 'nosniff')
    assert.match(docs.headers.get('content-security-policy') ?? '', /style-src 'self' 'unsafe-inline'/)
    assert.ok(docs.headers.get('cross-origin-opener-policy') != null)
  })
})

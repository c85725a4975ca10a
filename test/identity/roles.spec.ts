import { strict as assert } from 'node:assert'
import { AEROS_ROLE_MAPPING, DEFAULT_ROLE_MAPPING, hasRole, isRole, ROLES, rolesFromGroups, type Role } from '../../identity/index.ts'

describe('identity: roles', () => {
  // granted → the roles it satisfies; everything else it must not.
  const TABLE: Record<Role, Role[]> = {
    viewer: ['viewer'],
    deployer: ['deployer', 'viewer'],
    operator: ['operator', 'viewer'],
    admin: ['viewer', 'deployer', 'operator', 'admin']
  }

  for (const granted of ROLES) {
    it(`${granted} satisfies exactly ${TABLE[granted].join(', ')}`, () => {
      for (const required of ROLES) assert.equal(hasRole([granted], required), TABLE[granted].includes(required), `${granted} → ${required}`)
    })
  }

  it('combines roles and grants nothing without any', () => {
    assert.equal(hasRole(['deployer', 'operator'], 'operator'), true)
    assert.equal(hasRole(['deployer', 'operator'], 'admin'), false)
    for (const required of ROLES) assert.equal(hasRole([], required), false)
    assert.equal(hasRole(['superuser' as Role], 'viewer'), false)
  })

  it('maps groups to roles, case-insensitively, without duplicates, in role order', () => {
    assert.deepEqual(rolesFromGroups(['viewer', 'Admin', 'ADMIN', 'unknown'], DEFAULT_ROLE_MAPPING), ['viewer', 'admin'])
    assert.deepEqual(rolesFromGroups([], DEFAULT_ROLE_MAPPING), [])
    assert.deepEqual(rolesFromGroups(['ops'], { ops: ['operator', 'viewer'], OPS: ['deployer'] }), ['viewer', 'deployer', 'operator'])
    // A mapping with a typo must not invent roles.
    assert.deepEqual(rolesFromGroups(['x'], { x: ['root' as Role, 'viewer'] }), ['viewer'])
  })

  it('maps the aerOS roles', () => {
    assert.deepEqual(rolesFromGroups(['Continuum administrator'], AEROS_ROLE_MAPPING), ['admin'])
    assert.deepEqual(rolesFromGroups(['Domain administrator'], AEROS_ROLE_MAPPING), ['operator'])
    assert.deepEqual(rolesFromGroups(['Vertical deployer'], AEROS_ROLE_MAPPING), ['deployer'])
    assert.deepEqual(rolesFromGroups(['aerOS user'], AEROS_ROLE_MAPPING), ['viewer'])
    assert.deepEqual(rolesFromGroups(['IoT developer'], AEROS_ROLE_MAPPING), [])
  })

  it('recognises role names', () => {
    assert.equal(isRole('admin'), true)
    assert.equal(isRole('Admin'), false)
    assert.equal(isRole(undefined), false)
  })
})

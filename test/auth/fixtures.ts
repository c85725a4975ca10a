import { join } from 'node:path'
import { addUser, USERS_FILE_NAME, type Role } from '../../identity/index.ts'
import type { ContinuumNode } from '../../src/node.ts'
import { registerSecret, type TestDomain } from '../helpers/index.ts'

/** One user per role, with a password that must never show up in a log. */
export const USERS: Record<Role, { username: string, password: string }> = {
  viewer: { username: 'vera', password: 'viewer-password-4f1c' },
  deployer: { username: 'dario', password: 'deployer-password-9a2e' },
  operator: { username: 'olga', password: 'operator-password-7d3b' },
  admin: { username: 'ada', password: 'admin-password-1e8f' }
}
for (const u of Object.values(USERS)) registerSecret(u.password)

export async function addUsers (d: TestDomain): Promise<void> {
  const file = join(d.dataDir, USERS_FILE_NAME)
  for (const [role, u] of Object.entries(USERS)) await addUser(file, { username: u.username, password: u.password, groups: [role] })
}

export async function login (node: ContinuumNode, role: Role): Promise<string> {
  const u = USERS[role]
  const res = await fetch(`${node.apiUrl}/auth/v1/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: u.username, password: u.password })
  })
  if (res.status !== 200) throw new Error(`login of ${u.username} failed: ${res.status} ${await res.text()}`)
  const body = await res.json() as { access_token: string }
  return body.access_token
}

/**
 * Roles, from least to most powerful:
 * - `viewer`: read anything
 * - `deployer`: commission workloads (Service, ServiceComponent), plus what a viewer does
 * - `operator`: infrastructure entities (Domain, InfrastructureElement, …) and VPN actions, plus what a viewer does
 * - `admin`: everything, including users and federation membership
 * Deployer and operator are siblings: neither includes the other.
 */
export const ROLES = ['viewer', 'deployer', 'operator', 'admin'] as const

export type Role = typeof ROLES[number]

/** What each role grants, itself included. */
const IMPLIES: Record<Role, readonly Role[]> = {
  viewer: ['viewer'],
  deployer: ['deployer', 'viewer'],
  operator: ['operator', 'viewer'],
  admin: ROLES
}

export function isRole (value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value)
}

/** True when the granted roles satisfy `required` (admin satisfies everything; deployer and operator include viewer). */
export function hasRole (granted: readonly Role[], required: Role): boolean {
  return granted.some(r => IMPLIES[r]?.includes(required) === true)
}

/** Directory group name → roles it grants. */
export type RoleMapping = Record<string, Role[]>

/**
 * Roles granted by a user's groups, without duplicates, in `ROLES` order. Group names compare
 * case-insensitively because LDAP's do (`cn=Admins` and `cn=admins` are one group).
 */
export function rolesFromGroups (groups: readonly string[], mapping: Readonly<RoleMapping>): Role[] {
  const byGroup = new Map<string, Role[]>()
  for (const [group, roles] of Object.entries(mapping)) {
    const key = group.toLowerCase()
    byGroup.set(key, [...(byGroup.get(key) ?? []), ...roles])
  }
  const granted = new Set<Role>()
  for (const g of groups) {
    for (const r of byGroup.get(g.toLowerCase()) ?? []) {
      if (isRole(r)) granted.add(r)
    }
  }
  return ROLES.filter(r => granted.has(r))
}

/**
 * The default mapping: a group named like a role grants that role, so `cmesh user add --groups admin`
 * works with the embedded directory without any mapping in the config.
 */
export const DEFAULT_ROLE_MAPPING: Readonly<RoleMapping> = Object.freeze({
  viewer: ['viewer'],
  deployer: ['deployer'],
  operator: ['operator'],
  admin: ['admin']
})

/**
 * aerOS roles (groups in its Keycloak/OpenLDAP) mapped to ours, for a domain that keeps its aerOS
 * LDAP: use it as (or merge it into) the config's role mapping.
 * - `Continuum administrator` runs the whole continuum (users, federation) → admin
 * - `Domain administrator` runs one domain's infrastructure (nodes, network) → operator
 * - `Vertical deployer` deploys a vertical's services → deployer
 * - `aerOS user` looks at the continuum → viewer
 * Groups not listed grant nothing: an unknown role must never widen access.
 */
export const AEROS_ROLE_MAPPING: Readonly<RoleMapping> = Object.freeze({
  'Continuum administrator': ['admin'],
  'Domain administrator': ['operator'],
  'Vertical deployer': ['deployer'],
  'aerOS user': ['viewer']
})

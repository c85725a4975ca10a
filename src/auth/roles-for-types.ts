/**
 * Which role may write which entity types. Workloads (what a Vertical deployer commissions)
 * need `deployer`; infrastructure (what a domain operator runs) needs `operator`; other data any
 * of the two; `admin` may write everything.
 */
import { hasRole, type Role } from '../../identity/index.ts'
import { DEFAULT_VOCAB } from '../ngsi/types.ts'

const iri = (t: string): string => DEFAULT_VOCAB + t

export const WORKLOAD_TYPES = new Set(['Service', 'ServiceComponent', 'InfrastructureElementRequirements', 'NetworkPort', 'PersistentStorage', 'ServiceType'].map(iri))
export const INFRASTRUCTURE_TYPES = new Set(['Domain', 'InfrastructureElement', 'LowLevelOrchestrator', 'Organization', 'PowerSource', 'CloudRegion', 'NetworkConnection', 'WireGuardPeer', 'TrustScore'].map(iri))
/** Federation-wide control: only admins (revocation lists go through /federation/v1/revocations). */
export const ADMIN_TYPES = new Set(['RevocationList'].map(iri))

/** The roles any one of which may write an entity of these (expanded) types. */
export function writersOf (types: readonly string[]): Role[] {
  if (types.some(t => ADMIN_TYPES.has(t))) return ['admin']
  const infra = types.some(t => INFRASTRUCTURE_TYPES.has(t))
  const workload = types.some(t => WORKLOAD_TYPES.has(t))
  if (infra && workload) return ['admin']
  if (infra) return ['operator']
  if (workload) return ['deployer']
  return ['deployer', 'operator']
}

export function mayWrite (granted: readonly Role[], types: readonly string[]): boolean {
  return writersOf(types).some(r => hasRole(granted, r))
}

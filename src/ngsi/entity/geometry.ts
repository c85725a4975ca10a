/**
 * GeoJSON for GeoProperty values. Validation is the query module's `validateGeometry`, so the
 * broker stores exactly the geometries its geo-queries can evaluate (closed rings, positions
 * inside [-180, 180] × [-90, 90], flat GeometryCollections). This file only adds the cheap shape
 * test that the concise input rules need to infer a GeoProperty.
 */
import { GEOMETRY_TYPES } from './constants.ts'

export { validateGeometry } from '../query/index.ts'

/** An object whose `type` names a GeoJSON geometry and that carries coordinates/geometries. */
export function looksLikeGeometry (value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const v = value as Record<string, unknown>
  return typeof v.type === 'string' && GEOMETRY_TYPES.has(v.type) && ('coordinates' in v || 'geometries' in v)
}

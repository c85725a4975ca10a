/**
 * JSON schemas of the NGSI-LD routes' URI parameters (validated by fastify before the handler;
 * an unknown parameter is a 400 InvalidRequest) and of their bodies/responses for the OpenAPI
 * document. Bodies are validated in depth by the entity layer, which knows NGSI-LD.
 */
import { Type } from 'typebox'

const S = (description: string) => Type.Optional(Type.String({ description }))
const B = (description: string) => Type.Optional(Type.Boolean({ description }))

export const EntityIdParams = Type.Object({ entityId: Type.String({ description: 'entity id (a URI), URL-encoded' }) })
export const AttrParams = Type.Object({
  entityId: Type.String({ description: 'entity id (a URI), URL-encoded' }),
  attrId: Type.String({ description: 'attribute name (a term of the @context, or an IRI)' })
})

const representation = {
  options: S('comma list: normalized | concise | keyValues (simplified) | sysAttrs'),
  format: S('normalized | concise | keyValues | simplified (v1.8; wins over options)'),
  lang: S('language tag for LanguageProperty values (4.15)'),
  local: B('accepted for compatibility; every domain holds the whole federation\'s entities')
}

const projection = {
  attrs: S('comma list of attribute names to return (entities without any of them are not returned)'),
  pick: S('comma list of members to keep (may name id and type)'),
  omit: S('comma list of members to drop (may name id and type)')
}

const paging = {
  limit: Type.Optional(Type.Integer({ minimum: 0, description: 'page size (default 20, at most the configured maximum)' })),
  offset: Type.Optional(Type.Integer({ minimum: 0, description: 'index of the first result' })),
  count: B('return the total number of matches in the NGSILD-Results-Count header')
}

export const RetrieveQuery = Type.Object({
  ...representation,
  ...projection,
  geometryProperty: S('GeoProperty used as the GeoJSON geometry (application/geo+json)')
}, { additionalProperties: false })

export const QueryEntitiesQuery = Type.Object({
  id: S('comma list of entity ids'),
  type: S('type selection (4.17): `,` OR, `;` AND, parentheses'),
  idPattern: S('regular expression the id must match'),
  q: S('query language expression (4.9)'),
  georel: S('near;maxDistance==N | near;minDistance==N | within | contains | intersects | disjoint | equals | overlaps'),
  geometry: S('Point | MultiPoint | LineString | MultiLineString | Polygon | MultiPolygon'),
  coordinates: S('JSON array of coordinates of the geometry'),
  geoproperty: S('GeoProperty the geo-query applies to (default location)'),
  geometryProperty: S('GeoProperty used as the GeoJSON geometry (application/geo+json)'),
  ...representation,
  ...projection,
  ...paging
}, { additionalProperties: false })

export const OptionsQuery = Type.Object({ options: S('noOverwrite (append) or nothing') }, { additionalProperties: false })
export const EmptyQuery = Type.Object({}, { additionalProperties: false })
export const DeleteAttrQuery = Type.Object({
  datasetId: S('delete only the instance with this datasetId'),
  deleteAll: B('delete every instance of the attribute')
}, { additionalProperties: false })
export const PatchAttrQuery = Type.Object({}, { additionalProperties: false })
export const UpsertQuery = Type.Object({ options: S('replace (default) or update') }, { additionalProperties: false })
export const BatchQueryQuery = Type.Object({ ...representation, ...paging }, { additionalProperties: false })
export const DetailsQuery = Type.Object({ details: B('return details instead of names') }, { additionalProperties: false })

export const AnyBody = Type.Unknown({ description: 'NGSI-LD JSON (application/json with a Link header, or application/ld+json with @context)' })
export const EntityBody = Type.Object({}, { additionalProperties: true, description: 'an NGSI-LD entity (normalized or concise)' })
export const EntityArray = Type.Array(Type.Unknown(), { description: 'NGSI-LD entities' })

export const UpdateResult = Type.Object({
  updated: Type.Array(Type.String()),
  notUpdated: Type.Array(Type.Object({ attributeName: Type.String(), reason: Type.String() }))
})

export const BatchOperationResult = Type.Object({
  success: Type.Array(Type.String()),
  errors: Type.Array(Type.Object({
    entityId: Type.String(),
    error: Type.Object({ type: Type.String(), title: Type.String(), status: Type.Integer(), detail: Type.String() }, { additionalProperties: true })
  }))
})

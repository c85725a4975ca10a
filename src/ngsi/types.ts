/**
 * The NGSI-LD data model as the broker holds it internally. Every name here is an expanded IRI
 * (entity types, attribute names, sub-attribute names, vocab values): requests are expanded
 * against their @context on the way in, responses compacted against the request's @context on
 * the way out. Storage, query, subscriptions and replication all work on these shapes.
 */

export type AttributeKind =
  | 'Property'
  | 'Relationship'
  | 'GeoProperty'
  | 'LanguageProperty'
  | 'VocabularyProperty'
  | 'JsonProperty'
  | 'ListProperty'
  | 'ListRelationship'

/** One instance of an attribute (one datasetId; the default instance has none). */
export interface Attribute {
  type: AttributeKind
  /** Property, GeoProperty (a GeoJSON geometry), JsonProperty (any JSON, never expanded) */
  value?: unknown
  /** Relationship: the target entity id (or ids) */
  object?: string | string[]
  /** LanguageProperty: language tag → string (or strings) */
  languageMap?: Record<string, string | string[]>
  /** VocabularyProperty: expanded IRIs */
  vocab?: string | string[]
  /** ListProperty */
  valueList?: unknown[]
  /** ListRelationship */
  objectList?: string[]
  /** absent for the default instance */
  datasetId?: string
  observedAt?: string
  unitCode?: string
  /** sub-attributes (properties of properties), by expanded name */
  sub?: Record<string, Attribute>
  /** system: when this instance was first created / last modified (ISO 8601, ms) */
  createdAt?: string
  modifiedAt?: string
  /** federation extension: the domain that last wrote this instance (shown with sysAttrs) */
  writer?: string
}

export interface Entity {
  id: string
  /** expanded type IRIs, at least one */
  type: string[]
  scope?: string[]
  /** expanded attribute name → instances (default instance first, then by datasetId) */
  attrs: Record<string, Attribute[]>
  /** system timestamps (ISO 8601) */
  createdAt?: string
  modifiedAt?: string
  /** federation extension: the domain that created the entity (shown with sysAttrs) */
  owner?: string
}

/** Representation formats of NGSI-LD 6.3.7 / 6.3.11. */
export type Format = 'normalized' | 'concise' | 'keyValues'

/** How to render an entity for a response or a notification. */
export interface RenderOptions {
  format: Format
  /** include createdAt/modifiedAt (and the federation extension members) */
  sysAttrs: boolean
  /** keep only these attributes (expanded names); undefined = all */
  attrs?: ReadonlySet<string>
  /** pick/omit (v1.8): projections that may also name id/type */
  pick?: ReadonlySet<string>
  omit?: ReadonlySet<string>
  /** LanguageProperty: render only this language (6.3.19), as a Property */
  lang?: string
}

/** Extension members shown with options=sysAttrs (documented in the README). */
export const OWNER_MEMBER = 'ownerDomain'
export const WRITER_MEMBER = 'writerDomain'

/** Well-known IRIs. */
export const NGSI_LD = 'https://uri.etsi.org/ngsi-ld/'
export const DEFAULT_VOCAB = 'https://uri.etsi.org/ngsi-ld/default-context/'
export const LOCATION = 'https://uri.etsi.org/ngsi-ld/location'
export const OBSERVATION_SPACE = 'https://uri.etsi.org/ngsi-ld/observationSpace'
export const OPERATION_SPACE = 'https://uri.etsi.org/ngsi-ld/operationSpace'
/** NGSI-LD Null (V1.9.1 clause 5.2.1): in a merge, deletes what it is assigned to. */
export const NGSI_LD_NULL = 'urn:ngsi-ld:null'

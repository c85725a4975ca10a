/**
 * Names and patterns of the NGSI-LD entity representation (clause 4.5, 5.2). Each says why.
 */
import type { AttributeKind } from '../types.ts'
import { NGSI_LD, OWNER_MEMBER, WRITER_MEMBER } from '../types.ts'

/** Attribute `type` strings written in responses. These are core terms, so every @context
 * compacts them to these spellings (core terms are protected). VocabularyProperty is written
 * `VocabProperty`, the term of the core context v1.8; the OpenAPI v1.7.1 draft name
 * `VocabularyProperty` is still accepted on input. */
export const KIND_TERM: Readonly<Record<AttributeKind, string>> = {
  Property: 'Property',
  Relationship: 'Relationship',
  GeoProperty: 'GeoProperty',
  LanguageProperty: 'LanguageProperty',
  VocabularyProperty: 'VocabProperty',
  JsonProperty: 'JsonProperty',
  ListProperty: 'ListProperty',
  ListRelationship: 'ListRelationship'
}

/** Expanded attribute type IRI → kind (input `type` is expanded first, so `ngsi-ld:Property` and
 * the full IRI work too). */
export const KIND_BY_IRI: ReadonlyMap<string, AttributeKind> = new Map<string, AttributeKind>([
  [NGSI_LD + 'Property', 'Property'],
  [NGSI_LD + 'Relationship', 'Relationship'],
  [NGSI_LD + 'GeoProperty', 'GeoProperty'],
  [NGSI_LD + 'LanguageProperty', 'LanguageProperty'],
  [NGSI_LD + 'VocabProperty', 'VocabularyProperty'],
  [NGSI_LD + 'VocabularyProperty', 'VocabularyProperty'],
  [NGSI_LD + 'JsonProperty', 'JsonProperty'],
  [NGSI_LD + 'ListProperty', 'ListProperty'],
  [NGSI_LD + 'ListRelationship', 'ListRelationship']
])

/** Input spellings that are no core term but still name a kind. */
export const KIND_ALIASES: ReadonlyMap<string, AttributeKind> = new Map<string, AttributeKind>([
  ['VocabularyProperty', 'VocabularyProperty']
])

/** The member that carries each kind's value, in normalized and concise form. */
export const VALUE_MEMBER: Readonly<Record<AttributeKind, string>> = {
  Property: 'value',
  GeoProperty: 'value',
  Relationship: 'object',
  LanguageProperty: 'languageMap',
  VocabularyProperty: 'vocab',
  JsonProperty: 'json',
  ListProperty: 'valueList',
  ListRelationship: 'objectList'
}

/** Where the internal model (types.ts) keeps each kind's value: JsonProperty uses `value`. */
export const MODEL_MEMBER: Readonly<Record<AttributeKind, 'value' | 'object' | 'languageMap' | 'vocab' | 'valueList' | 'objectList'>> = {
  Property: 'value',
  GeoProperty: 'value',
  JsonProperty: 'value',
  Relationship: 'object',
  LanguageProperty: 'languageMap',
  VocabularyProperty: 'vocab',
  ListProperty: 'valueList',
  ListRelationship: 'objectList'
}

/** Concise form (4.5.x): which kind a value member implies when `type` is left out. `value` is
 * Property, or GeoProperty for a GeoJSON geometry under a GeoProperty name. */
export const KIND_BY_MEMBER: ReadonlyMap<string, AttributeKind> = new Map<string, AttributeKind>([
  ['object', 'Relationship'],
  ['languageMap', 'LanguageProperty'],
  ['vocab', 'VocabularyProperty'],
  ['json', 'JsonProperty'],
  ['valueList', 'ListProperty'],
  ['objectList', 'ListRelationship'],
  ['value', 'Property']
])

/** Entity members that are not attributes. createdAt/modifiedAt/deletedAt are system-generated:
 * ignored on input as the spec says. Our own system members are rejected instead, because a
 * client that sends them expects them to be honoured (they drive federation ownership). */
export const ENTITY_IGNORED: ReadonlySet<string> = new Set(['@context', 'createdAt', 'modifiedAt', 'deletedAt'])
export const ENTITY_SYSTEM_REJECTED: ReadonlySet<string> = new Set([OWNER_MEMBER, WRITER_MEMBER])

/** Attribute members that are no sub-attributes. */
export const ATTRIBUTE_MEMBERS: ReadonlySet<string> = new Set([
  'type', 'value', 'object', 'languageMap', 'vocab', 'json', 'valueList', 'objectList', 'datasetId', 'observedAt', 'unitCode'
])
/** System-generated (or notification-only) attribute members: ignored on input. `lang` is what
 * a LanguageProperty rendered with `lang=` carries; taking it back in must not create a
 * sub-attribute. */
export const ATTRIBUTE_IGNORED: ReadonlySet<string> = new Set([
  '@context', 'createdAt', 'modifiedAt', 'deletedAt', 'instanceId', 'lang',
  'previousValue', 'previousObject', 'previousLanguageMap', 'previousVocab', 'previousJson',
  'previousValueList', 'previousObjectList'
])
/** Members we cannot hold (no slot in the model) or that only the system may set. */
export const ATTRIBUTE_REJECTED: ReadonlyMap<string, string> = new Map([
  ['id', 'an attribute has no id'],
  ['objectType', 'objectType is not supported'],
  [WRITER_MEMBER, `${WRITER_MEMBER} is set by the system`],
  [OWNER_MEMBER, `${OWNER_MEMBER} is set by the system`]
])

/** Attribute names whose GeoJSON values are GeoProperties without an explicit type (4.7). */
export const GEO_PROPERTY_NAMES: ReadonlySet<string> = new Set([
  NGSI_LD + 'location', NGSI_LD + 'observationSpace', NGSI_LD + 'operationSpace'
])

/** GeoJSON geometry type names (RFC 7946 3.1). */
export const GEOMETRY_TYPES: ReadonlySet<string> = new Set([
  'Point', 'MultiPoint', 'LineString', 'MultiLineString', 'Polygon', 'MultiPolygon', 'GeometryCollection'
])

/** Characters NGSI-LD forbids in names (4.6.2, after the HTTP-unsafe set of 6.3.x): they would
 * break `q`, `attrs` and URL paths. Control characters and whitespace included. */
export const FORBIDDEN_NAME_CHARS = /[<>"'=;()\s\u0000-\u001f\u007f]/

/** `scheme:rest` with no whitespace or characters a URI cannot hold (RFC 3986 excludes them). */
export const ABSOLUTE_URI = /^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>"{}|\\^`]+$/

/** ISO 8601 date-time with a time zone (NGSI-LD DateTime, 4.6.3): date, 'T', hh:mm[:ss[.frac]], Z or ±hh[:]mm. */
export const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})$/

/** A BCP 47 language tag (loose: letters/digits in dash-separated subtags) or `@none`. */
export const LANGUAGE_TAG = /^(?:@none|[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*)$/

/** NGSI-LD scope (4.18): '/'-separated levels starting with '/'. */
export const SCOPE = /^(?:\/[^\s/#+]+)+$/

/** Nesting limit for sub-attributes: real data has 2–3 levels; this keeps a hostile body from
 * exhausting the stack. */
export const MAX_SUB_DEPTH = 16

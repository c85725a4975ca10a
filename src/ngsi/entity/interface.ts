/**
 * Types other modules see: options and results of expanding request bodies.
 */
import type { Attribute, Entity } from '../types.ts'

export interface ExpandEntityOptions {
  /** create/replace/upsert need a type; merge bodies may leave it out (then `type` is []) */
  requireType: boolean
  /** the id from the URL (replace, merge): the body may omit `id`; if it has one it must match */
  entityId?: string
}

export interface ExpandAttributesOptions {
  /** the entity in the URL: an `id` in the body must equal it; default: any id accepted */
  entityId?: string
  /** the entity's expanded types: each `type` in the body must be one of them; default: any */
  entityType?: readonly string[]
  /** null / NGSI-LD Null become deletions (merge, update) instead of errors; default false */
  allowNull?: boolean
}

export interface ExpandAttributeOptions {
  /** null / NGSI-LD Null become deletions instead of errors; default false */
  allowNull?: boolean
}

/**
 * What a merge asks to delete: NGSI-LD Null (`urn:ngsi-ld:null`) or JSON null as an attribute
 * (or as its value/object/vocab/languageMap/json/valueList/objectList) deletes the instance;
 * inside an attribute it deletes a sub-attribute or the member observedAt/unitCode.
 */
export interface Deletion {
  /** expanded attribute name */
  attr: string
  /** the instance; absent = the default instance */
  datasetId?: string
  /** absent: the whole instance. Else the path inside it: expanded sub-attribute names, the
   * last element possibly the member 'observedAt' or 'unitCode' (never an IRI, so no clash). */
  path?: string[]
}

/** expandEntityPatch: the entity without the deleted parts, and the deletions. */
export interface EntityPatch {
  entity: Entity
  deletions: Deletion[]
}

/** expandAttributes: attributes by expanded name; `type`/`scope` only when the body has them. */
export interface AttributesPatch {
  attrs: Record<string, Attribute[]>
  deletions: Deletion[]
  type?: string[]
  scope?: string[]
}

/** expandAttribute (full instances) and expandAttributeFragment (partial instances). */
export interface AttributePatch<T = Attribute> {
  /** expanded attribute name */
  name: string
  instances: T[]
  deletions: Deletion[]
}

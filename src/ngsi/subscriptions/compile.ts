/**
 * A stored subscription turned into predicates, once per create/update/load: the entity filter
 * (selectors, q, geoQ), the watched attributes, the effective triggers, the types the index
 * files it under, and the scan a periodic notification runs. Everything works on expanded names,
 * so no @context is needed here.
 */
import {
  bindGeoQuery, bindQ, bindTypeSelector, candidateTypes, evaluateGeo, evaluateQ, matchTypes, parseGeoQuery, parseQ,
  parseTypeSelector
} from '../query/index.ts'
import type { ScanSource } from '../store/index.ts'
import type { Entity } from '../types.ts'
import { DEFAULT_TRIGGERS } from './constants.ts'
import type { NotificationTrigger, SubscriptionRecord } from './interface.ts'

export interface CompiledSubscription {
  readonly record: SubscriptionRecord
  /** selectors (any), q and geoQ (all) on one entity */
  readonly selects: (entity: Entity) => boolean
  /** index keys: an entity with none of these types cannot match; null = any type (watched attributes only) */
  readonly types: readonly string[] | null
  /** expanded names; null = every attribute */
  readonly watched: ReadonlySet<string> | null
  /** entityUpdated unfolded into the three attribute triggers; the default when none is given */
  readonly triggers: ReadonlySet<NotificationTrigger>
  /** where a periodic notification looks for entities */
  readonly scan: ScanSource
  /** attributes to render (expanded); undefined = all */
  readonly attrs?: ReadonlySet<string>
}

const identity = (t: string): string => t

/** Throws the query module's errors if the stored text no longer parses (it did when it was stored). */
export function compileSubscription (record: SubscriptionRecord): CompiledSubscription {
  const tests: Array<(e: Entity) => boolean> = []
  let types: string[] | null = null
  let scan: ScanSource = {}
  if (record.entities !== undefined) {
    const selectors = record.entities.map(s => {
      const bound = bindTypeSelector(parseTypeSelector(s.type), identity)
      // 5.2.8: id takes precedence over idPattern
      const re = s.id === undefined && s.idPattern !== undefined ? new RegExp(s.idPattern) : undefined
      const id = s.id
      return {
        candidates: candidateTypes(bound),
        id,
        test: (e: Entity): boolean => matchTypes(bound, e.type) && (id === undefined || e.id === id) && (re === undefined || re.test(e.id))
      }
    })
    types = [...new Set(selectors.flatMap(s => s.candidates))]
    tests.push(selectors.length === 1 ? selectors[0].test : e => selectors.some(s => s.test(e)))
    scan = selectors.every(s => s.id !== undefined) ? { ids: selectors.map(s => s.id as string) } : { types }
  }
  if (record.q !== undefined) {
    const terms = record.qTerms ?? {}
    const q = bindQ(parseQ(record.q), t => Object.hasOwn(terms, t) ? terms[t] as string : t)
    tests.push(e => evaluateQ(q, e))
  }
  if (record.geoQ !== undefined) {
    const g = record.geoQ
    const gq = parseGeoQuery({ georel: g.georel, geometry: g.geometry, coordinates: g.coordinates, geoproperty: g.geoproperty }, { source: 'body' })
    if (gq !== null) {
      const bound = bindGeoQuery(gq, identity)
      tests.push(e => evaluateGeo(bound, e))
    }
  }
  const selects = tests.length === 0 ? () => true : tests.length === 1 ? tests[0] : (e: Entity) => tests.every(t => t(e))
  const given = record.notificationTrigger ?? DEFAULT_TRIGGERS
  const triggers = new Set<NotificationTrigger>()
  for (const t of given) {
    if (t === 'entityUpdated') {
      // 5.2.12: entityUpdated is the combination of the three attribute triggers
      triggers.add('attributeCreated'); triggers.add('attributeUpdated'); triggers.add('attributeDeleted')
    } else {
      triggers.add(t)
    }
  }
  const out: CompiledSubscription = {
    record,
    selects,
    types,
    watched: record.watchedAttributes !== undefined ? new Set(record.watchedAttributes) : null,
    triggers,
    scan,
    attrs: record.notification.attributes !== undefined ? new Set(record.notification.attributes) : undefined
  }
  return out
}

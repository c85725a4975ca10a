/**
 * Key layout of subscriptions in the node's LevelDB (shared with the entity store, whose keys
 * start with e, t, a, l, w or m followed by NUL: see ../store/keys.ts). Everything here starts
 * with `s␀`, so the two never collide and a range scan over `s␀` sees subscriptions only.
 *
 *   s␀d␀<subscription id>  → SubscriptionRecord (JSON): the definition, written on create/update
 *   s␀c␀<subscription id>  → NotificationCounters (JSON): written debounced, apart from the
 *                            definition so that counting never rewrites (or races) an update
 */
const SEP = '\u0000'
/** Upper bound for range scans: sorts after every character a key may contain. */
export const HIGH = '\uffff'

export const DEFINITION_PREFIX = `s${SEP}d${SEP}`
export const COUNTERS_PREFIX = `s${SEP}c${SEP}`
export const definitionKey = (id: string): string => DEFINITION_PREFIX + id
export const countersKey = (id: string): string => COUNTERS_PREFIX + id

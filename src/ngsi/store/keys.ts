/**
 * Key layout of the entity store in LevelDB (one database, string keys, string values).
 * NUL separates parts: it cannot occur in URIs, so prefixes never collide.
 *
 *   e␀<entity id>              → EntityRecord (JSON): the entity's replicated registers
 *   t␀<type IRI>␀<entity id>   → ''  live entities by type
 *   a␀<attr IRI>␀<entity id>   → ''  live entities by attribute
 *   l␀<origin>␀<seq, 12 digits> → Change (JSON): the per-origin change log
 *   w␀<origin>                 → contiguous watermark of the origin's log (last seq without gaps)
 *   m␀<name>                   → store metadata
 */
const SEP = '\u0000'
/** Upper bound for range scans over a prefix: sorts after every character a key may contain. */
export const HIGH = '\uffff'

export const entityKey = (id: string): string => `e${SEP}${id}`
export const ENTITY_PREFIX = `e${SEP}`
export const typeKey = (type: string, id: string): string => `t${SEP}${type}${SEP}${id}`
export const typePrefix = (type: string): string => `t${SEP}${type}${SEP}`
export const attrKey = (attr: string, id: string): string => `a${SEP}${attr}${SEP}${id}`
export const attrPrefix = (attr: string): string => `a${SEP}${attr}${SEP}`
export const logKey = (origin: string, seq: number): string => `l${SEP}${origin}${SEP}${String(seq).padStart(12, '0')}`
export const logPrefix = (origin: string): string => `l${SEP}${origin}${SEP}`
export const LOG_PREFIX = `l${SEP}`
export const watermarkKey = (origin: string): string => `w${SEP}${origin}`
export const WATERMARK_PREFIX = `w${SEP}`
export const metaKey = (name: string): string => `m${SEP}${name}`

/** The last part of an index key (the entity id). */
export function idFromIndexKey (key: string, prefix: string): string {
  return key.slice(prefix.length)
}

/** origin and seq from a log key */
export function parseLogKey (key: string): { origin: string, seq: number } {
  const rest = key.slice(LOG_PREFIX.length)
  const i = rest.lastIndexOf(SEP)
  return { origin: rest.slice(0, i), seq: Number(rest.slice(i + 1)) }
}

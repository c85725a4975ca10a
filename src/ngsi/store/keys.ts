/**
 * Key layout of the entity store in LevelDB (one database, string keys, string values).
 * NUL separates parts: it cannot occur in URIs, so prefixes never collide.
 *
 *   e␀<entity id>               → EntityRecord (JSON): the entity's replicated registers
 *   l␀<origin>␀<seq, 12 digits> → signed envelope (JSON {d, s}) of <origin>'s changes up to <seq>
 *   w␀<origin>                  → contiguous watermark of the origin's log (last seq without gaps)
 *   f␀<origin>                  → log floor: the origin's envelopes up to this seq were compacted away
 *   m␀reserved                  → local sequence numbers up to this may be gossiped before they are on disk
 *
 * The log keeps each origin's envelopes as signed (passed on unchanged); a peer further behind
 * than the log reaches gets the entities' current records instead. Indexes by type and attribute
 * live in memory (entity-index.ts), rebuilt from the records at start.
 */
const SEP = '\u0000'
/** Upper bound for range scans over a prefix: sorts after every character a key may contain. */
export const HIGH = '\uffff'

export const entityKey = (id: string): string => `e${SEP}${id}`
export const ENTITY_PREFIX = `e${SEP}`
export const logKey = (origin: string, seq: number): string => `l${SEP}${origin}${SEP}${String(seq).padStart(12, '0')}`
export const logPrefix = (origin: string): string => `l${SEP}${origin}${SEP}`
export const LOG_PREFIX = `l${SEP}`
export const watermarkKey = (origin: string): string => `w${SEP}${origin}`
export const WATERMARK_PREFIX = `w${SEP}`
export const floorKey = (origin: string): string => `f${SEP}${origin}`
export const FLOOR_PREFIX = `f${SEP}`
export const metaKey = (name: string): string => `m${SEP}${name}`

/** origin and seq from a log key */
export function parseLogKey (key: string): { origin: string, seq: number } {
  const rest = key.slice(LOG_PREFIX.length)
  const i = rest.lastIndexOf(SEP)
  return { origin: rest.slice(0, i), seq: Number(rest.slice(i + 1)) }
}

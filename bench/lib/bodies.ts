/**
 * The batch-upsert bodies of the benches: `entities` Things of three attributes (a number, a
 * string, a point), `batch` per JSON array, as the NGSI-LD API receives them. `offset` shifts the
 * numeric value (a second pass updates every entity).
 */
export function thingBatches (entities: number, batch: number, offset = 0): string[] {
  return Array.from({ length: Math.ceil(entities / batch) }, (_, b) => JSON.stringify(Array.from({ length: Math.min(batch, entities - b * batch) }, (_, i) => {
    const k = b * batch + i
    return {
      id: `urn:ngsi-ld:Thing:${String(k).padStart(7, '0')}`,
      type: `T${k % 10}`,
      level: { type: 'Property', value: (k + offset) % 1000 },
      brand: { type: 'Property', value: `b${Math.floor(k / 10) % 10}` },
      location: { type: 'GeoProperty', value: { type: 'Point', coordinates: [2 + (k % 100) / 100, 41 + (k % 50) / 100] } }
    }
  })))
}

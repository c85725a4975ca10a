/** Seeded sparse topologies for the scale bench, and hop distances in them. */

/** mulberry32: a small seeded PRNG, so that a topology can be rebuilt from its seed. */
export function rng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * Per node, the nodes it bootstraps to: node i (i ≥ 1) picks 2 or 3 distinct random nodes among
 * 0..i-1 whose degree (links either way) is below `maxDegree`, so early nodes do not collect
 * every link. The cap matters on loopback: gossipsub's IP-colocation score (P6: weight -5 above
 * 10 peers on one IP) makes a node with more than 10 loopback peers score every one of them -20,
 * below the gossip threshold, so it grafts none and drops out of the gossip mesh.
 */
export function sparseTopology (n: number, seed: number, maxDegree = 8): number[][] {
  const rand = rng(seed)
  const out: number[][] = [[]]
  const degree = new Array<number>(n).fill(0)
  for (let i = 1; i < n; i++) {
    const open = Array.from({ length: i }, (_, j) => j).filter(j => degree[j] < maxDegree)
    const pool = open.length >= Math.min(i, 2) ? open : Array.from({ length: i }, (_, j) => j)
    const want = Math.min(pool.length, rand() < 0.5 ? 2 : 3)
    const picks = new Set<number>()
    while (picks.size < want) picks.add(pool[Math.floor(rand() * pool.length)])
    for (const j of picks) { degree[j]++; degree[i]++ }
    out.push([...picks])
  }
  return out
}

/** A chain 0–1–…–(n-1). */
export function lineTopology (n: number): number[][] {
  return Array.from({ length: n }, (_, i) => i === 0 ? [] : [i - 1])
}

/** Hop distance from `from` to every node (Infinity when unreachable). */
export function bfs (adj: Array<Set<number>>, from: number): number[] {
  const dist = adj.map(() => Infinity)
  dist[from] = 0
  const queue = [from]
  while (queue.length > 0) {
    const x = queue.shift() as number
    for (const y of adj[x]) if (dist[y] === Infinity) { dist[y] = dist[x] + 1; queue.push(y) }
  }
  return dist
}

/** Edges, mean and max degree and diameter of the connection graph (adjacency sets). */
export function graphStats (adj: Array<Set<number>>): { edges: number, meanDegree: number, maxDegree: number, diameter: number } {
  const degrees = adj.map(s => s.size)
  const sum = degrees.reduce((x, y) => x + y, 0)
  return {
    edges: sum / 2,
    meanDegree: sum / adj.length,
    maxDegree: Math.max(...degrees),
    diameter: Math.max(...adj.map((_, i) => Math.max(...bfs(adj, i))))
  }
}

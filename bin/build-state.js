// Whether the compiled build (dist/) is current: newer than every source file. Shared by the
// `cmesh` launcher (which runs dist/ when it is, and the TypeScript sources through tsx otherwise)
// and the benchmarks (which say which of the two their figures come from).
import { existsSync, readdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const stamp = join(root, 'dist', '.stamp')

function newestSource (dir) {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path))
    else if (/\.(ts|json)$/.test(entry.name)) newest = Math.max(newest, statSync(path).mtimeMs)
  }
  return newest
}

/** true when `cmesh` would run dist/ (and CMESH_FROM_SOURCE does not ask for the sources) */
export function buildIsCurrent () {
  if (process.env.CMESH_FROM_SOURCE === '1' || !existsSync(stamp)) return false
  const built = statSync(stamp).mtimeMs
  return ['src', 'mesh', 'identity', 'trust', 'vpn'].every(d => !existsSync(join(root, d)) || newestSource(join(root, d)) <= built)
}

import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The package's root directory (where package.json is), found by walking up from this module:
 * it works both from the TypeScript sources (src/) and from the compiled build (dist/src/).
 */
function findRoot (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'bin', 'cmesh.js'))) return dir
    const up = dirname(dir)
    if (up === dir) throw new Error('cannot find the continuum-mesh package root')
    dir = up
  }
}

export const PACKAGE_ROOT = findRoot()
export const CMESH_BIN = join(PACKAGE_ROOT, 'bin', 'cmesh.js')

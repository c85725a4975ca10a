#!/usr/bin/env node
// Launcher for the `cmesh` command. It runs the compiled build (dist/, made by `npm run build`,
// which `npm ci` runs) when it is newer than every source file, and otherwise the TypeScript
// sources through tsx, so a developer's edits always take effect. Either way the polyfills load
// before anything imports libp2p.
import { existsSync, readdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
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

function buildIsCurrent () {
  if (process.env.CMESH_FROM_SOURCE === '1' || !existsSync(stamp)) return false
  const built = statSync(stamp).mtimeMs
  return ['src', 'mesh', 'identity', 'trust', 'vpn'].every(d => !existsSync(join(root, d)) || newestSource(join(root, d)) <= built)
}

let main
if (buildIsCurrent()) {
  // Stack traces then name the TypeScript files and lines, not the compiled ones.
  process.setSourceMapsEnabled(true)
  await import('../dist/src/polyfills.js')
  ;({ main } = await import('../dist/src/cli.js'))
} else {
  const { register } = await import('tsx/esm/api')
  register()
  await import('../src/polyfills.ts')
  ;({ main } = await import('../src/cli.ts'))
}
await main(process.argv)

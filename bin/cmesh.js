#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=64
// Launcher for the `cmesh` command (its first line's Node.js flags and environment are src/paths.ts
// NODE_FLAGS and NODE_RUNTIME_ENV).
// It runs the compiled build (dist/, made by `npm run build`, which `npm ci` runs) when it is
// newer than every source file, and otherwise the TypeScript sources through tsx, so a
// developer's edits always take effect. Either way the polyfills load before anything imports
// libp2p.
import { buildIsCurrent } from './build-state.js'

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

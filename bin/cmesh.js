#!/usr/bin/env node
// Launcher for the `cmesh` command. It registers tsx (so the TypeScript sources run as they are),
// then loads the polyfills before anything imports libp2p, then the CLI itself.
import { register } from 'tsx/esm/api'

register()
await import('../src/polyfills.ts')
const { main } = await import('../src/cli.ts')
await main(process.argv)

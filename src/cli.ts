/**
 * The `cmesh` command line. Each subcommand explains itself with --help.
 */
import { Command, InvalidArgumentError } from 'commander'
import { loadConfig } from './config/index.ts'
import { loadOrCreateDomainKey } from '../identity/index.ts'
import { ConfigError, CmeshError } from './errors.ts'
import { VERSION } from './version.ts'

// The node, the demo and the federation tools are imported when their command runs, so that
// `cmesh --help` and `cmesh id` do not pay for loading libp2p and fastify.

function intOption (min: number, max: number) {
  return (value: string): number => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`)
    return n
  }
}

/** Runs a node until SIGINT/SIGTERM, then stops it cleanly and exits 0. */
async function runNode (configFile: string): Promise<void> {
  const config = await loadConfig(configFile)
  const { ContinuumNode } = await import('./node.ts')
  const node = new ContinuumNode(config)
  let stopping = false
  const shutdown = (signal: string): void => {
    if (stopping) {
      node.log.warn({ signal }, 'second signal: exiting without a clean stop')
      process.exit(1)
    }
    stopping = true
    node.log.info({ signal }, 'stopping')
    node.stop().then(() => process.exit(0), (err) => {
      node.log.error({ err }, 'unclean stop')
      process.exit(1)
    })
  }
  process.on('SIGINT', () => { shutdown('SIGINT') })
  process.on('SIGTERM', () => { shutdown('SIGTERM') })
  await node.start()
  exitWithParent(shutdown)
}

/**
 * A node started by `cmesh demo` runs in its own process group; if the demo dies without
 * stopping it (kill -9), the node notices the parent is gone and stops itself.
 */
function exitWithParent (shutdown: (signal: string) => void): void {
  const parent = Number(process.env.CMESH_PARENT_PID)
  if (!Number.isInteger(parent) || parent <= 1) return
  const timer = setInterval(() => {
    try { process.kill(parent, 0) } catch { clearInterval(timer); shutdown('parent exited') }
  }, 1000)
  timer.unref()
}

export function buildCli (): Command {
  const program = new Command()
  program
    .name('cmesh')
    .description('Continuum Mesh: one node per administrative domain of a cloud-edge-IoT federation.')
    .version(VERSION)
    .showHelpAfterError()

  program.command('node')
    .description('run this domain\'s node (mesh, REST API) until Ctrl-C or SIGTERM')
    .requiredOption('-c, --config <file>', 'the domain\'s config file (YAML or JSON)')
    .addHelpText('after', '\nExample:\n  cmesh node --config config/default.yaml')
    .action(async (opts: { config: string }) => { await runNode(opts.config) })

  program.command('id')
    .description('print this domain\'s peer id and mesh addresses (creates the domain key on first use)')
    .requiredOption('-c, --config <file>', 'the domain\'s config file')
    .option('--json', 'print JSON instead of text')
    .addHelpText('after', '\nOther domains put one of the printed addresses in their mesh.bootstrap\nand the peer id in their federation.members.')
    .action(async (opts: { config: string, json?: boolean }) => {
      const config = await loadConfig(opts.config)
      const key = await loadOrCreateDomainKey(config.dataDir)
      const peerId = key.peerId.toString()
      const addrs = (config.mesh.announce.length > 0 ? config.mesh.announce : config.mesh.listen).map(a => `${a}/p2p/${peerId}`)
      if (opts.json === true) {
        console.log(JSON.stringify({ domain: config.domain.name, peerId, addrs, keyFile: key.file, created: key.created }))
        return
      }
      console.log(`domain   ${config.domain.name}`)
      console.log(`peer id  ${peerId}${key.created ? '   (new key created in ' + key.file + ')' : ''}`)
      for (const a of addrs) console.log(`address  ${a}`)
    })

  const federation = program.command('federation').description('tools for setting up a federation\'s config files')
  federation.command('link')
    .description('create each domain\'s key and fill the {peer-id:NAME} placeholders of the given config files')
    .argument('<files...>', 'the config files of the domains to link')
    .addHelpText('after', '\nExample:\n  cmesh federation link config/federation/domain-*.yaml')
    .action(async (files: string[]) => {
      const { linkConfigs } = await import('./setup/link.ts')
      const linked = await linkConfigs(files)
      for (const l of linked) console.log(`${l.domain.padEnd(12)} ${l.peerId}  ${l.changed ? 'updated ' : 'unchanged'} ${l.file}`)
    })

  program.command('demo')
    .description('run a local federation of N domains as separate processes on 127.0.0.1')
    .option('-n, --domains <n>', 'how many domains', intOption(1, 64), 3)
    .option('--api-port <port>', 'REST API port of the first domain; the others count up', intOption(1, 65000), 1026)
    .option('--mesh-port <port>', 'libp2p port of the first domain; the others count up', intOption(1, 65000), 4101)
    .option('--dir <dir>', 'where configs, keys, data and logs go', '.cmesh/demo')
    .addHelpText('after', '\nPrints a table of the domains once every domain sees all others alive.\nCtrl-C stops them all.')
    .action(async (opts: { domains: number, apiPort: number, meshPort: number, dir: string }) => {
      const { runDemo } = await import('./demo.ts')
      process.exitCode = await runDemo(opts)
    })
  return program
}

export async function main (argv: string[]): Promise<void> {
  try {
    await buildCli().parseAsync(argv)
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`cmesh: ${err.message}`)
      process.exit(2)
    }
    if (err instanceof CmeshError || (err as { code?: string }).code?.startsWith('IDENTITY_') === true) {
      console.error(`cmesh: ${(err as Error).message}`)
      process.exit(1)
    }
    console.error('cmesh: unexpected error:', err)
    process.exit(1)
  }
}

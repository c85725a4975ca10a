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
async function runNode (configFile: string, opts: { restored?: boolean } = {}): Promise<void> {
  const config = await loadConfig(configFile)
  const { ContinuumNode } = await import('./node.ts')
  const node = new ContinuumNode(config, { restored: opts.restored })
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
    .option('--restored', 'the data directory was restored from an older copy: get this domain\'s later changes back from its peers and number new ones past them (once, at the first start after the restore)')
    .addHelpText('after', '\nExample:\n  cmesh node --config config/default.yaml')
    .action(async (opts: { config: string, restored?: boolean }) => { await runNode(opts.config, { restored: opts.restored }) })

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

  const ca = program.command('ca').description('the federation certificate authority (run by the federation administrator)')
  ca.command('init')
    .description('create the federation CA (ca.key, mode 0600, and ca.crt) in a directory')
    .requiredOption('--dir <dir>', 'where the CA lives; keep ca.key offline and backed up')
    .requiredOption('--name <name>', 'the federation\'s name')
    .option('--days <n>', 'validity in days', intOption(1, 36_500), 3650)
    .action(async (opts: { dir: string, name: string, days: number }) => {
      const { initCa } = await import('../identity/index.ts')
      const info = await initCa({ dir: opts.dir, name: opts.name, validityDays: opts.days })
      console.log(`CA certificate  ${info.certFile}\nCA key          ${info.keyFile} (0600: keep it with the administrator)\nfingerprint     ${info.fingerprint}\nvalid until     ${info.notAfter.toISOString()}`)
    })
  ca.command('issue')
    .description('issue a domain certificate binding its name, FQDN and peer id, into its data directory')
    .requiredOption('--ca <dir>', 'the CA directory')
    .option('-c, --config <file>', 'the domain\'s config: name, FQDN, data directory and peer id come from it')
    .option('--domain <name>', 'domain name (without --config)')
    .option('--fqdn <fqdn>', 'domain FQDN (without --config)')
    .option('--peer-id <id>', 'the domain\'s libp2p peer id (without --config)')
    .option('--out <dir>', 'where to write domain.crt, domain.key and federation-ca.crt (default: the config\'s dataDir)')
    .option('--days <n>', 'validity in days', intOption(1, 3650), 365)
    .action(async (opts: { ca: string, config?: string, domain?: string, fqdn?: string, peerId?: string, out?: string, days: number }) => {
      const { issueDomainCertificate, writeDomainCertificate } = await import('../identity/index.ts')
      const { readFile } = await import('node:fs/promises')
      const { join } = await import('node:path')
      let { domain, fqdn, peerId, out } = opts
      if (opts.config != null) {
        const config = await loadConfig(opts.config)
        domain ??= config.domain.name
        fqdn ??= config.domain.fqdn
        peerId ??= (await loadOrCreateDomainKey(config.dataDir)).peerId.toString()
        out ??= config.dataDir
      }
      if (domain == null || fqdn == null || peerId == null || out == null) {
        throw new CmeshError('CLI_USAGE', 'give --config FILE, or all of --domain, --fqdn, --peer-id and --out')
      }
      const cert = await issueDomainCertificate({ caDir: opts.ca, domain, fqdn, peerId, validityDays: opts.days })
      const caCertPem = await readFile(join(opts.ca, 'ca.crt'), 'utf8')
      await writeDomainCertificate(out, { certPem: cert.certPem, keyPem: cert.keyPem, caCertPem })
      console.log(`issued serial ${cert.serial} for ${domain} (${fqdn}, ${peerId}), valid until ${cert.notAfter.toISOString()}\nwritten to ${out}: domain.crt, domain.key (0600), federation-ca.crt`)
    })
  ca.command('revoke')
    .description('add certificate serials to the federation\'s revocation list (a JSON document signed by the CA)')
    .requiredOption('--ca <dir>', 'the CA directory')
    .requiredOption('--serial <serials...>', 'serials to revoke')
    .option('--list <file>', 'the revocation list file, created or extended', 'revocations.json')
    .addHelpText('after', '\nPublish the list to the federation: POST it to /federation/v1/revocations on any domain (admin).')
    .action(async (opts: { ca: string, serial: string[], list: string }) => {
      const { createRevocationList } = await import('../identity/index.ts')
      const { readFile, writeFile } = await import('node:fs/promises')
      let previous
      try { previous = JSON.parse(await readFile(opts.list, 'utf8')) } catch (err) { if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err }
      const list = await createRevocationList({ caDir: opts.ca, serials: opts.serial, previous })
      await writeFile(opts.list, JSON.stringify(list, null, 2) + '\n')
      console.log(`${opts.list}: ${list.serials.length} revoked serial(s), sequence ${list.sequence}`)
    })

  const user = program.command('user').description('users of this domain\'s embedded directory (the default; LDAP users are managed in LDAP)')
  const usersFile = async (configFile: string): Promise<string> => {
    const config = await loadConfig(configFile)
    const { join } = await import('node:path')
    const { USERS_FILE_NAME } = await import('../identity/index.ts')
    if (config.auth.directory.type !== 'embedded') throw new CmeshError('CLI_USAGE', `${configFile} uses an LDAP directory: manage its users in LDAP`)
    return config.auth.directory.file ?? join(config.dataDir, USERS_FILE_NAME)
  }
  user.command('add')
    .description('add a user; the password is read from a prompt, or from the first line of stdin')
    .requiredOption('-c, --config <file>', 'the domain\'s config file')
    .requiredOption('-u, --username <name>', 'the user name')
    .option('-g, --groups <groups>', 'comma-separated groups (mapped to roles by auth.roleMapping; by default viewer, deployer, operator, admin)', 'viewer')
    .option('--display-name <name>', 'a readable name')
    .action(async (opts: { config: string, username: string, groups: string, displayName?: string }) => {
      const { addUser } = await import('../identity/index.ts')
      const { readSecret } = await import('./setup/secrets.ts')
      const file = await usersFile(opts.config)
      const password = await readSecret(`password for ${opts.username}: `)
      await addUser(file, { username: opts.username, password, groups: opts.groups.split(',').map(g => g.trim()).filter(g => g !== ''), displayName: opts.displayName })
      console.log(`added ${opts.username} to ${file}`)
    })
  user.command('passwd')
    .description('set a user\'s password (read from a prompt or stdin)')
    .requiredOption('-c, --config <file>', 'the domain\'s config file')
    .requiredOption('-u, --username <name>', 'the user name')
    .action(async (opts: { config: string, username: string }) => {
      const { setPassword } = await import('../identity/index.ts')
      const { readSecret } = await import('./setup/secrets.ts')
      const file = await usersFile(opts.config)
      await setPassword(file, opts.username, await readSecret(`new password for ${opts.username}: `))
      console.log(`password of ${opts.username} changed`)
    })
  user.command('rm')
    .description('remove a user')
    .requiredOption('-c, --config <file>', 'the domain\'s config file')
    .requiredOption('-u, --username <name>', 'the user name')
    .action(async (opts: { config: string, username: string }) => {
      const { removeUser } = await import('../identity/index.ts')
      await removeUser(await usersFile(opts.config), opts.username)
      console.log(`removed ${opts.username}`)
    })
  user.command('list')
    .description('list users and their groups (never their password hashes)')
    .requiredOption('-c, --config <file>', 'the domain\'s config file')
    .action(async (opts: { config: string }) => {
      const { listUsers } = await import('../identity/index.ts')
      for (const u of await listUsers(await usersFile(opts.config))) console.log(`${u.username.padEnd(20)} ${u.groups.join(',')}${u.displayName != null ? `  (${u.displayName})` : ''}`)
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
    if (err instanceof CmeshError || (err as { code?: string }).code?.startsWith('IDENTITY_') === true || (err as Error).message === 'cancelled') {
      console.error(`cmesh: ${(err as Error).message}`)
      process.exit(1)
    }
    console.error('cmesh: unexpected error:', err)
    process.exit(1)
  }
}

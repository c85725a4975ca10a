/**
 * Network namespaces for fault tests: each host gets its own namespace (its own ports, its own
 * iptables) with one interface `eth0` on a private /24. The namespaces hang off a bridge that
 * lives in a hub namespace of its own, so that traffic between hosts never crosses the root
 * namespace's FORWARD chain (which other software, e.g. dockerd, may set to DROP). The root
 * namespace joins the bridge with one veth and the first address of the /24, so the test
 * process reaches every host's sockets with plain `fetch`.
 *
 *   const why = await netnsUnavailable()
 *   if (why != null) { console.warn(…); this.skip() }
 *   const lab = await NetLab.create(['a', 'b', 'c'])
 *   const child = lab.run('a', ['node', 'server.js'])   // runs inside a's namespace
 *   await lab.partition('a')                             // a can reach neither b nor c
 *   await lab.heal('a')
 *   await lab.destroy()                                  // kills the processes, removes everything
 *
 * Faults: `partition` adds iptables DROP rules inside the host's namespace (INPUT from and OUTPUT
 * to the other hosts; the root namespace, i.e. the test's clients, stays reachable), `linkDown`
 * takes the host's interface down (nobody, not even the test, reaches it).
 *
 * Needs root, iproute2 (`ip netns`) and iptables. Everything a lab creates carries the creating
 * process id in its name (`cm-<pid>-<rand>-<host>`), so that a later run can remove what a
 * killed run left behind without touching another live run's namespaces.
 */
import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { randomBytes } from 'node:crypto'

/** Environment for OS commands: C locale, so that their messages are the ones we match. */
const CMD_ENV = { ...process.env, LC_ALL: 'C' }

export class CommandError extends Error {
  readonly code = 'NETNS_COMMAND_FAILED'
  readonly argv: string[]
  readonly stderr: string
  constructor (argv: string[], stderr: string, cause?: unknown) {
    super(`${argv.join(' ')} failed: ${stderr.trim() !== '' ? stderr.trim() : String((cause as Error)?.message ?? cause)}`)
    this.argv = argv
    this.stderr = stderr
  }
}

/** Runs a command without a shell; the error names the argv and carries its stderr. */
export async function cmd (argv: string[], opts: { timeoutMs?: number } = {}): Promise<string> {
  return await new Promise((resolve, reject) => {
    execFile(argv[0], argv.slice(1), { env: CMD_ENV, timeout: opts.timeoutMs ?? 20_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err != null) reject(new CommandError(argv, String(stderr), err))
      else resolve(String(stdout))
    })
  })
}

function cmdSync (argv: string[]): string {
  try {
    return execFileSync(argv[0], argv.slice(1), { env: CMD_ENV, stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 }).toString()
  } catch {
    return ''
  }
}

/**
 * Why network-namespace tests cannot run here, or null if they can. Checks what the tests need,
 * for real: root, `ip netns add`, a veth pair, and iptables inside a namespace.
 */
export async function netnsUnavailable (): Promise<string | null> {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'network namespaces need root (run the tests as root, as CI does)'
  for (const tool of [['ip', '-V'], ['iptables', '--version']]) {
    try { await cmd(tool) } catch (err) { return `\`${tool[0]}\` is not usable (${(err as Error).message}); install ${tool[0] === 'ip' ? 'iproute2' : 'iptables'}` }
  }
  const probe = `cm-${process.pid}-probe${randomBytes(2).toString('hex')}`
  try {
    await cmd(['ip', 'netns', 'add', probe])
    await cmd(['ip', '-n', probe, 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'p1'])
    await cmd(['ip', 'netns', 'exec', probe, 'iptables', '-A', 'OUTPUT', '-d', '192.0.2.1', '-j', 'DROP'])
    return null
  } catch (err) {
    return `network namespaces do not work here: ${(err as Error).message}`
  } finally {
    await cmd(['ip', 'netns', 'del', probe]).catch(() => {})
  }
}

export interface NetHost {
  /** the name the test gave it ('a', 'b', …) */
  name: string
  /** the namespace's name */
  ns: string
  /** its address on the lab's /24 */
  addr: string
}

/** Host names become interface names in the hub (`p-<name>`, at most 15 characters). */
const HOST_NAME = /^[a-z0-9]{1,12}$/

/** Labs not yet destroyed, removed by an exit hook if a test run ends without its after() hooks. */
const live = new Set<NetLab>()
let exitHook = false

export class NetLab {
  /** the root namespace's address on the bridge: where the hosts see the test's clients come from */
  readonly hostAddr: string
  readonly subnet: string
  private readonly id: string
  private readonly hub: string
  /** the root namespace's end of the uplink veth (the one name the lab creates there) */
  readonly uplink: string
  private readonly hosts = new Map<string, NetHost>()
  private readonly children = new Set<ChildProcess>()
  private destroyed = false

  private constructor (rand: string, third: number) {
    this.id = `cm-${process.pid}-${rand}`
    this.subnet = `10.77.${third}.0/24`
    this.hostAddr = `10.77.${third}.1`
    this.hub = `${this.id}-hub`
    // The one name in the root namespace: unique machine-wide, at most 15 characters.
    this.uplink = `cm${rand}up`
  }

  /** Creates one namespace per name, all on one bridge, plus the root namespace's uplink. */
  static async create (names: string[]): Promise<NetLab> {
    for (const n of names) if (!HOST_NAME.test(n)) throw new Error(`host name ${n} must match ${String(HOST_NAME)}`)
    if (new Set(names).size !== names.length) throw new Error('host names must be distinct')
    if (names.length > 200) throw new Error('at most 200 hosts per lab')
    await removeStale()
    const lab = new NetLab(randomBytes(3).toString('hex'), await freeThirdOctet())
    live.add(lab)
    if (!exitHook) {
      exitHook = true
      // mocha's --exit ends the process after the run; a lab whose after() never ran goes too.
      process.once('exit', () => { for (const l of live) l.destroySync() })
    }
    try {
      await lab.build(names)
    } catch (err) {
      await lab.destroy()
      throw err
    }
    return lab
  }

  private async build (names: string[]): Promise<void> {
    const hub = this.hub
    await cmd(['ip', 'netns', 'add', hub])
    await cmd(['ip', '-n', hub, 'link', 'set', 'lo', 'up'])
    await cmd(['ip', '-n', hub, 'link', 'add', 'br0', 'type', 'bridge'])
    await cmd(['ip', '-n', hub, 'link', 'set', 'br0', 'up'])
    await cmd(['ip', 'link', 'add', this.uplink, 'type', 'veth', 'peer', 'name', 'up0', 'netns', hub])
    await cmd(['ip', '-n', hub, 'link', 'set', 'up0', 'master', 'br0', 'up'])
    await cmd(['ip', 'addr', 'add', `${this.hostAddr}/24`, 'dev', this.uplink])
    await cmd(['ip', 'link', 'set', this.uplink, 'up'])
    const base = this.hostAddr.slice(0, this.hostAddr.lastIndexOf('.') + 1)
    for (const [i, name] of names.entries()) {
      const host: NetHost = { name, ns: `${this.id}-${name}`, addr: `${base}${10 + i}` }
      await cmd(['ip', 'netns', 'add', host.ns])
      this.hosts.set(name, host)
      await cmd(['ip', '-n', host.ns, 'link', 'set', 'lo', 'up'])
      await cmd(['ip', '-n', hub, 'link', 'add', `p-${name}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.ns])
      await cmd(['ip', '-n', hub, 'link', 'set', `p-${name}`, 'master', 'br0', 'up'])
      await cmd(['ip', '-n', host.ns, 'addr', 'add', `${host.addr}/24`, 'dev', 'eth0'])
      await cmd(['ip', '-n', host.ns, 'link', 'set', 'eth0', 'up'])
    }
  }

  host (name: string): NetHost {
    const h = this.hosts.get(name)
    if (h == null) throw new Error(`no host ${name} in this lab (hosts: ${[...this.hosts.keys()].join(', ')})`)
    return h
  }

  addr (name: string): string {
    return this.host(name).addr
  }

  names (): string[] {
    return [...this.hosts.keys()]
  }

  /** Spawns `argv` inside the host's namespace (no shell). The lab kills it on destroy(). */
  run (name: string, argv: string[], opts: SpawnOptions = {}): ChildProcess {
    if (this.destroyed) throw new Error('lab destroyed')
    // `ip netns exec` execs the command, so the child's pid is the command's own pid.
    const child = spawn('ip', ['netns', 'exec', this.host(name).ns, ...argv], { stdio: 'ignore', ...opts })
    this.children.add(child)
    child.once('exit', () => { this.children.delete(child) })
    return child
  }

  /** Runs a command inside the host's namespace and returns its stdout. */
  async exec (name: string, argv: string[]): Promise<string> {
    return await cmd(['ip', 'netns', 'exec', this.host(name).ns, ...argv])
  }

  /**
   * Cuts `name` off from `peers` (default: every other host), both ways, with iptables DROP
   * rules inside `name`'s namespace. Packets vanish (no RST, no ICMP), as on a real partition:
   * open TCP connections hang until something notices. Calling it again adds to the cut.
   */
  async partition (name: string, peers: string[] = this.names().filter(n => n !== name)): Promise<void> {
    for (const p of peers) {
      const addr = this.addr(p)
      await this.exec(name, ['iptables', '-w', '-A', 'INPUT', '-s', addr, '-j', 'DROP'])
      await this.exec(name, ['iptables', '-w', '-A', 'OUTPUT', '-d', addr, '-j', 'DROP'])
    }
  }

  /** Removes every partition rule of `name` (the namespace is ours: its filter table holds only them). */
  async heal (name: string): Promise<void> {
    await this.exec(name, ['iptables', '-w', '-F', 'INPUT'])
    await this.exec(name, ['iptables', '-w', '-F', 'OUTPUT'])
  }

  /** Takes the host's interface down: it reaches nobody and nobody (the test included) reaches it. */
  async linkDown (name: string): Promise<void> {
    await cmd(['ip', '-n', this.host(name).ns, 'link', 'set', 'eth0', 'down'])
  }

  /** Brings the interface back; the kernel restores the /24 route with it. */
  async linkUp (name: string): Promise<void> {
    await cmd(['ip', '-n', this.host(name).ns, 'link', 'set', 'eth0', 'up'])
  }

  /** Kills every process in the lab's namespaces and removes them. Safe to call more than once. */
  async destroy (): Promise<void> {
    if (this.destroyed) return
    this.destroyed = true
    live.delete(this)
    for (const c of this.children) c.kill('SIGKILL')
    for (const ns of this.namespaces()) {
      // Also what the test did not start through run() (a process can outlive its spawner).
      const pids = (await cmd(['ip', 'netns', 'pids', ns]).catch(() => '')).split(/\s+/).filter(p => p !== '')
      for (const pid of pids) { try { process.kill(Number(pid), 'SIGKILL') } catch { /* gone */ } }
      await cmd(['ip', 'netns', 'del', ns]).catch(() => {})
    }
    // Deleting the hub deletes the uplink's peer, and with it the uplink; this is for a half-built lab.
    await cmd(['ip', 'link', 'del', this.uplink]).catch(() => {})
  }

  private namespaces (): string[] {
    return [...[...this.hosts.values()].map(h => h.ns), this.hub]
  }

  /** destroy() for the process 'exit' event, where nothing asynchronous runs any more. */
  private destroySync (): void {
    if (this.destroyed) return
    this.destroyed = true
    for (const c of this.children) c.kill('SIGKILL')
    for (const ns of [...this.hosts.keys()].map(n => `${this.id}-${n}`).concat(this.hub)) {
      for (const pid of cmdSync(['ip', 'netns', 'pids', ns]).split(/\s+/).filter(p => p !== '')) {
        try { process.kill(Number(pid), 'SIGKILL') } catch { /* gone */ }
      }
      cmdSync(['ip', 'netns', 'del', ns])
    }
    cmdSync(['ip', 'link', 'del', this.uplink])
  }
}

/** A third octet x such that 10.77.x.0/24 is not routed in the root namespace yet. */
async function freeThirdOctet (): Promise<number> {
  const routes = await cmd(['ip', '-4', 'route', 'show'])
  const used = new Set([...routes.matchAll(/\b10\.77\.(\d+)\./g)].map(m => Number(m[1])))
  const free = Array.from({ length: 254 }, (_, i) => i + 1).filter(x => !used.has(x))
  if (free.length === 0) throw new Error('no free /24 in 10.77.0.0/16')
  return free[Math.floor(Math.random() * free.length)]
}

/** Removes namespaces of earlier runs whose process is gone (killed before its after() hooks). */
async function removeStale (): Promise<void> {
  const list = await cmd(['ip', 'netns', 'list']).catch(() => '')
  for (const line of list.split('\n')) {
    const m = /^(cm-(\d+)-[0-9a-f]{6}-[a-z0-9]+)\b/.exec(line)
    if (m == null) continue
    const pid = Number(m[2])
    if (pid === process.pid || processAlive(pid)) continue
    const pids = (await cmd(['ip', 'netns', 'pids', m[1]]).catch(() => '')).split(/\s+/).filter(p => p !== '')
    for (const p of pids) { try { process.kill(Number(p), 'SIGKILL') } catch { /* gone */ } }
    await cmd(['ip', 'netns', 'del', m[1]]).catch(() => {})
  }
}

function processAlive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM' }
}

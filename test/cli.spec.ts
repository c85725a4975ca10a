import { strict as assert } from 'node:assert'
import { spawn, execFile } from 'node:child_process'
import { writeFile, readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { cleanup, freePort, tempDir, waitFor } from './helpers/index.ts'

const run = promisify(execFile)
const CMESH = 'bin/cmesh.js'

/** The child processes of `pid`, with their command line and environment (Linux /proc). */
async function childrenOf (pid: number): Promise<Array<{ pid: number, argv: string[], env: string[] }>> {
  const out = []
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8')
      // pid (comm) state ppid …; comm may hold spaces and parentheses
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== pid) continue
      const argv = (await readFile(`/proc/${name}/cmdline`, 'utf8')).split('\0').filter(Boolean)
      const env = (await readFile(`/proc/${name}/environ`, 'utf8')).split('\0').filter(Boolean)
      out.push({ pid: Number(name), argv, env })
    } catch { /* gone meanwhile */ }
  }
  return out
}

async function cmesh (...args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CMESH, ...args])
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number, stdout: string, stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

describe('cmesh command line', function () {
  this.timeout(60_000)
  after(cleanup)

  it('runs directly as `cmesh` (npx), with the Node.js flags a node needs named on its first line', async () => {
    const { NODE_FLAGS, NODE_RUNTIME_ENV } = await import('../src/paths.ts')
    const first = (await readFile(CMESH, 'utf8')).split('\n')[0]
    assert.match(first, /^#!\/usr\/bin\/env -S ([A-Z_]+=\S+ )*node /)
    for (const flag of NODE_FLAGS) assert.ok(first.split(' ').includes(flag), `${flag} missing from ${first}`)
    for (const [k, v] of Object.entries(NODE_RUNTIME_ENV)) assert.ok(first.split(' ').includes(`${k}=${v}`), `${k}=${v} missing from ${first}`)
    const { stdout } = await run(CMESH, ['--version'])
    assert.match(stdout, /^\d+\.\d+\.\d+/)
  })

  it('explains itself with --help, and each subcommand too', async () => {
    const top = await cmesh('--help')
    assert.equal(top.code, 0)
    for (const sub of ['node', 'id', 'demo', 'federation']) assert.match(top.stdout, new RegExp(`\\n\\s+${sub}\\b`))
    const demo = await cmesh('demo', '--help')
    assert.match(demo.stdout, /--domains <n>/)
  })

  it('`id` creates the key and prints the peer id and addresses, the same every time', async () => {
    const dir = await tempDir()
    const file = join(dir, 'c.yaml')
    await writeFile(file, `domain: {name: edge-1}\ndataDir: ${join(dir, 'data')}\nmesh: {listen: [/ip4/127.0.0.1/tcp/4555]}\n`)
    const first = JSON.parse((await cmesh('id', '--config', file, '--json')).stdout) as { peerId: string, addrs: string[], created: boolean }
    assert.equal(first.created, true)
    assert.match(first.peerId, /^12D3KooW/)
    assert.deepEqual(first.addrs, [`/ip4/127.0.0.1/tcp/4555/p2p/${first.peerId}`])
    const again = await cmesh('id', '--config', file)
    assert.match(again.stdout, new RegExp(`peer id  ${first.peerId}\\n`))
  })

  it('refuses a bad config with exit code 2 and a line naming the key', async () => {
    const dir = await tempDir()
    const file = join(dir, 'bad.yaml')
    await writeFile(file, 'domain: {name: x}\nmesh: {bootstrap: [/ip4/10.0.0.1/tcp/1]}\n')
    const res = await cmesh('node', '--config', file)
    assert.equal(res.code, 2)
    assert.match(res.stderr, /mesh\.bootstrap\[0\]: not a multiaddr with \/p2p\/<peer id>/)
  })

  it('`node` runs until SIGTERM, then stops cleanly with exit code 0', async () => {
    const dir = await tempDir()
    const file = join(dir, 'n.yaml')
    const port = await freePort()
    await writeFile(file, `domain: {name: edge-2}\ndataDir: ${join(dir, 'data')}\napi: {port: ${port}}\nmesh: {listen: [/ip4/127.0.0.1/tcp/0]}\nlog: {format: json}\n`)
    const child = spawn(process.execPath, [CMESH, 'node', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    const exited = new Promise<number | null>(resolve => child.once('exit', resolve))
    try {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok, 'the node to answer /health')
      child.kill('SIGTERM')
      assert.equal(await exited, 0)
      assert.match(out, /"msg":"node stopped"/)
    } finally {
      child.kill('SIGKILL')
    }
  })

  it('`demo` starts a federation, prints the table when all see each other, and stops on Ctrl-C', async () => {
    const dir = await tempDir()
    const apiPort = await freePort()
    const meshPort = await freePort()
    const child = spawn(process.execPath, [CMESH, 'demo', '--domains', '2', '--api-port', String(apiPort), '--mesh-port', String(meshPort), '--dir', dir],
      { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr.on('data', (d: Buffer) => { out += d.toString() })
    const exited = new Promise<number | null>(resolve => child.once('exit', resolve))
    try {
      await waitFor(() => out.includes('Press Ctrl-C to stop.'), `the demo table (output so far: ${out})`, 45_000)
      assert.match(out, new RegExp(`domain-a\\s+http://127\\.0\\.0\\.1:${apiPort}\\s+12D3KooW`))
      assert.match(out, new RegExp(`domain-b\\s+http://127\\.0\\.0\\.1:${apiPort + 1}\\s+12D3KooW`))
      const health = await (await fetch(`http://127.0.0.1:${apiPort + 1}/health`)).json() as { liveMembers: number }
      assert.equal(health.liveMembers, 2)
      // The domains run with the Node.js flags and environment a node needs (src/paths.ts).
      const { NODE_FLAGS, NODE_RUNTIME_ENV } = await import('../src/paths.ts')
      const domains = (await childrenOf(child.pid as number)).filter(p => p.argv.includes('node') && p.argv.includes('--config'))
      assert.equal(domains.length, 2, 'two domain processes')
      for (const d of domains) {
        for (const flag of NODE_FLAGS) assert.ok(d.argv.includes(flag), `${flag} in ${d.argv.join(' ')}`)
        for (const [k, v] of Object.entries(NODE_RUNTIME_ENV)) assert.ok(d.env.includes(`${k}=${v}`), `${k}=${v} in the environment of domain process ${d.pid}`)
      }
      child.kill('SIGINT')
      assert.equal(await exited, 0)
      assert.match(out, /All domains stopped\./)
      const log = await readFile(join(dir, 'domain-a', 'node.log'), 'utf8')
      assert.match(log, /"msg":"node stopped"/, 'each domain stopped cleanly')
    } finally {
      child.kill('SIGKILL')
    }
  })
})

/** Starts a Continuum Mesh node as a child process (the real CLI) and waits for its API. */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer } from 'node:net'
import { stringify } from 'yaml'
import { NODE_FLAGS, nodeProcessEnv } from '../../src/paths.ts'

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen({ host: '127.0.0.1', port: 0 }, () => {
      const a = srv.address()
      srv.close(() => { resolve(typeof a === 'object' && a != null ? a.port : 0) })
    })
  })
}

export interface NodeProc {
  url: string
  child: ChildProcess
  dir: string
  pid: number
  stop: () => Promise<void>
}

/** Starts `cmesh node` on `config` (merged over bench defaults); `execArgv` e.g. `--cpu-prof`. */
export async function startNodeProcess (config: Record<string, unknown>, execArgv: string[] = []): Promise<NodeProc> {
  const dir = await mkdtemp(join(tmpdir(), 'cmesh-bench-'))
  const port = await freePort()
  const file = join(dir, 'node.yaml')
  const full = {
    dataDir: join(dir, 'data'),
    api: { host: '127.0.0.1', port, bodyLimit: 64 * 1024 * 1024 },
    mesh: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    log: { level: 'warn', format: 'json' },
    // Figures without authentication unless a bench asks for it (the auth bench compares both).
    auth: { mode: 'disabled' },
    ...config
  }
  await writeFile(file, stringify(full))
  const child = spawn(process.execPath, [...NODE_FLAGS, ...execArgv, 'bin/cmesh.js', 'node', '--config', file], { stdio: ['ignore', 'ignore', 'inherit'], env: nodeProcessEnv() })
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 60_000
  for (;;) {
    try { if ((await fetch(`${url}/health`)).ok) break } catch { /* not yet */ }
    if (child.exitCode != null) throw new Error(`node exited with ${child.exitCode}`)
    if (Date.now() > deadline) throw new Error('node did not start')
    await new Promise(r => setTimeout(r, 100))
  }
  return {
    url,
    child,
    dir,
    pid: child.pid ?? 0,
    stop: async () => {
      if (child.exitCode == null) {
        const exited = new Promise(r => child.once('exit', r))
        child.kill('SIGTERM')
        await exited
      }
      await rm(dir, { recursive: true, force: true })
    }
  }
}

/** Resident set size of a process, from /proc (Linux). */
export async function rssOf (pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises')
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
  return kb * 1024
}

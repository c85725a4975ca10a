/** Helpers for benchmarks that run peers as child processes talking over IPC. */
import { fork, type ChildProcess } from 'node:child_process'

export interface Proc {
  child: ChildProcess
  send: (msg: unknown) => void
  /** resolves with the next message for which `match` is true */
  next: <T = Record<string, unknown>>(match: (m: Record<string, unknown>) => boolean, timeoutMs?: number) => Promise<T>
  on: (fn: (m: Record<string, unknown>) => void) => void
  stop: () => Promise<void>
}

export function spawnTs (file: string, args: string[] = []): Proc {
  const child = fork(file, args, { execArgv: ['--import', 'tsx', '--import', './src/polyfills.ts'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const listeners = new Set<(m: Record<string, unknown>) => void>()
  child.on('message', (m) => { for (const l of listeners) l(m as Record<string, unknown>) })
  return {
    child,
    send: (msg) => { child.send(msg as object) },
    on: (fn) => { listeners.add(fn) },
    next: async <T>(match: (m: Record<string, unknown>) => boolean, timeoutMs = 60_000) => await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => { listeners.delete(l); reject(new Error(`timed out waiting for a message from ${file}`)) }, timeoutMs)
      const l = (m: Record<string, unknown>): void => {
        if (m.evt === 'error') { clearTimeout(timer); listeners.delete(l); reject(new Error(String(m.message))); return }
        if (match(m)) { clearTimeout(timer); listeners.delete(l); resolve(m as T) }
      }
      listeners.add(l)
    }),
    stop: async () => {
      if (child.exitCode != null) return
      const exited = new Promise(resolve => child.once('exit', resolve))
      try { child.send({ cmd: 'stop' }) } catch { child.kill() }
      const t = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(t)
    }
  }
}

export function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))
  return sorted[i]
}

export const round = (v: number, digits = 2): number => Math.round(v * 10 ** digits) / 10 ** digits

import { createInterface } from 'node:readline'

/**
 * Reads a secret (a password) without putting it on the command line, where `ps` and shell
 * history would show it: from a prompt with echo off on a terminal, else the first line of stdin
 * (`echo "$PW" | cmesh user add …`).
 */
export async function readSecret (prompt: string): Promise<string> {
  if (process.stdin.isTTY !== true) {
    const rl = createInterface({ input: process.stdin, terminal: false })
    for await (const line of rl) { rl.close(); return line.replace(/\r$/, '') }
    return ''
  }
  process.stdout.write(prompt)
  const stdin = process.stdin
  stdin.setRawMode(true)
  stdin.resume()
  stdin.setEncoding('utf8')
  return await new Promise<string>((resolve, reject) => {
    let value = ''
    const onData = (ch: string): void => {
      for (const c of ch) {
        if (c === '\r' || c === '\n') { done(); resolve(value); return }
        if (c === '\u0003') { done(); reject(new Error('cancelled')); return }
        if (c === '\u007f') value = value.slice(0, -1)
        else value += c
      }
    }
    const done = (): void => {
      stdin.off('data', onData)
      stdin.setRawMode(false)
      stdin.pause()
      process.stdout.write('\n')
    }
    stdin.on('data', onData)
  })
}

/**
 * Mocha root hooks. After the whole run: no log line written by a test node contains a
 * registered secret (test passwords, domain private keys in any common encoding).
 */
import { strict as assert } from 'node:assert'
import { LOG_LINES, SECRETS } from './index.ts'

export const mochaHooks = {
  afterAll (): void {
    const leaks: string[] = []
    for (const line of LOG_LINES) {
      for (const secret of SECRETS) {
        if (line.includes(secret)) leaks.push(`${secret.slice(0, 4)}… in: ${line.slice(0, 300)}`)
      }
    }
    assert.deepEqual(leaks, [], `secrets found in the logs of this run (${LOG_LINES.length} lines checked against ${SECRETS.size} secrets)`)
  }
}

import { strict as assert } from 'node:assert'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { buildConfig, bootstrapMembershipIssues, loadConfig, DEFAULT_CONFIG } from '../../src/config/index.ts'
import { ConfigError } from '../../src/errors.ts'
import { cleanup, tempDir } from '../helpers/index.ts'

const PEER = '12D3KooWGG9kQvm1QvTNvZebFF9oQuJwh8WZLHnRCdY88tu9maDo'
const OTHER = '12D3KooWKiGt8ge4Lq6SEvoKzcNjmEbpnrfUXk14xKRvGHM58yWM'

function issuesOf (input: Record<string, unknown>): string[] {
  try {
    buildConfig(input)
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`)
    assert.equal(err.code, 'CONFIG_INVALID')
    return err.issues
  }
  assert.fail('config was accepted')
}

describe('config', () => {
  after(cleanup)

  it('applies the defaults to a config that only names the domain', () => {
    const c = buildConfig({ domain: { name: 'edge-1' } })
    assert.equal(c.domain.fqdn, 'edge-1.continuum.local')
    assert.equal(c.api.port, DEFAULT_CONFIG.api.port)
    assert.deepEqual(c.mesh.listen, DEFAULT_CONFIG.mesh.listen)
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.mesh.listen), 'config is frozen')
  })

  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['a bootstrap entry without /p2p/',
      { federation: { members: [PEER] }, mesh: { bootstrap: [`/ip4/10.0.0.1/tcp/4001/p2p/${PEER}`, '/ip4/10.0.0.2/tcp/4001'] } },
      'mesh.bootstrap[1]: not a multiaddr with /p2p/<peer id>'],
    ['a bootstrap entry that is not a multiaddr', { mesh: { bootstrap: ['10.0.0.1:4001'] } },
      'mesh.bootstrap[0]: not a multiaddr with /p2p/<peer id>'],
    ['a placeholder left in the bootstrap list', { mesh: { bootstrap: ['/ip4/127.0.0.1/tcp/4002/p2p/{peer-id:domain-b}'] } },
      'mesh.bootstrap[0]: still holds a {peer-id:…} placeholder; run `cmesh federation link` on the config files first'],
    ['a listen address that is not a multiaddr', { mesh: { listen: ['tcp://0.0.0.0:4001'] } },
      'mesh.listen[0]: not a multiaddr (e.g. /ip4/127.0.0.1/tcp/4001)'],
    ['a member that is not a peer id', { federation: { members: ['domain-b'] } },
      'federation.members[0]: not a libp2p peer id'],
    ['an unknown key', { mesh: { bootstrapp: [] } }, 'mesh.bootstrapp: unknown key'],
    ['a port out of range', { api: { port: 70000 } }, 'api.port: must be <= 65535'],
    ['a domain name with capitals', { domain: { name: 'Domain_A' } }, 'domain.name: does not match'],
    ['a log level that does not exist', { log: { level: 'verbose' } }, 'log.level: must be one of "fatal", "error", "warn", "info", "debug", "trace", "silent"'],
    ['dead before suspect', { mesh: { suspectAfterMs: 5000, deadAfterMs: 4000 } }, 'mesh.deadAfterMs: must be larger than mesh.suspectAfterMs (5000)']
  ]
  for (const [what, input, expected] of cases) {
    it(`names the key and the reason for ${what}`, () => {
      const issues = issuesOf(input)
      assert.ok(issues.some(i => i.startsWith(expected)), `expected an issue starting with\n  ${expected}\ngot\n  ${issues.join('\n  ')}`)
    })
  }

  it('without a federation CA, a bootstrap peer outside the allowlist is named (checked at node start)', () => {
    const c = buildConfig({ mesh: { bootstrap: [`/ip4/10.0.0.1/tcp/4001/p2p/${PEER}`] }, federation: { members: [OTHER] } })
    assert.deepEqual(bootstrapMembershipIssues(c), [`mesh.bootstrap[0]: peer ${PEER} is not in federation.members, so the connection would be refused (no domain certificate in the data directory)`])
    assert.deepEqual(bootstrapMembershipIssues(buildConfig({ mesh: { bootstrap: [`/ip4/10.0.0.1/tcp/4001/p2p/${PEER}`] }, federation: { members: [PEER] } })), [])
  })

  it('reports every bad key at once', () => {
    const issues = issuesOf({ api: { port: -1 }, mesh: { listen: ['nope'] }, extra: 1 })
    assert.equal(issues.length, 3, issues.join('\n'))
  })

  it('loads YAML files and names the file in errors', async () => {
    const dir = await tempDir()
    const good = join(dir, 'good.yaml')
    await writeFile(good, 'domain:\n  name: edge-2\napi:\n  port: 2000\n')
    const c = await loadConfig(good)
    assert.equal(c.api.port, 2000)

    const bad = join(dir, 'bad.yaml')
    await writeFile(bad, 'domain: [unclosed\n')
    await assert.rejects(loadConfig(bad), (err: ConfigError) => err.message.includes(bad) && err.issues[0].startsWith('not valid YAML or JSON'))
    await assert.rejects(loadConfig(join(dir, 'missing.yaml')), (err: ConfigError) => err.issues[0].startsWith('cannot read the file'))
  })

  it('accepts the shipped single-domain example, config/default.yaml', async () => {
    const c = await loadConfig('config/default.yaml')
    assert.equal(c.domain.name, 'domain-a')
  })
})

import { strict as assert } from 'node:assert'
import { copyFile, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { linkConfigs } from '../../src/setup/link.ts'
import { loadConfig } from '../../src/config/index.ts'
import { cleanup, tempDir } from '../helpers/index.ts'

describe('cmesh federation link', () => {
  after(cleanup)

  it('fills the placeholders of the shipped 3-domain example so that each domain bootstraps from the others', async () => {
    const dir = await tempDir()
    const files: string[] = []
    for (const x of ['a', 'b', 'c']) {
      const file = join(dir, `domain-${x}.yaml`)
      const text = (await readFile(`config/federation/domain-${x}.yaml`, 'utf8'))
        .replace(/^dataDir: .*$/m, `dataDir: ${join(dir, 'data', 'domain-' + x)}`)
      await writeFile(file, text)
      files.push(file)
    }
    const linked = await linkConfigs(files)
    assert.equal(linked.length, 3)
    assert.ok(linked.every(l => l.changed))
    const ids = Object.fromEntries(linked.map(l => [l.domain, l.peerId]))
    const b = await loadConfig(files[1])
    assert.deepEqual([...b.federation.members].sort(), [ids['domain-a'], ids['domain-c']].sort())
    assert.deepEqual(b.mesh.bootstrap, [
      `/ip4/127.0.0.1/tcp/4001/p2p/${ids['domain-a']}`,
      `/ip4/127.0.0.1/tcp/4003/p2p/${ids['domain-c']}`
    ])
    const text = await readFile(files[1], 'utf8')
    assert.match(text, /^# Continuum Mesh — domain-b/m, 'comments are kept')

    // Linking again changes nothing; a stale peer id at a known address is corrected.
    assert.ok((await linkConfigs(files)).every(l => !l.changed))
    const stale = text.replace(ids['domain-a'], '12D3KooWGG9kQvm1QvTNvZebFF9oQuJwh8WZLHnRCdY88tu9maDo')
    await writeFile(files[1], stale)
    const relinked = await linkConfigs(files)
    assert.equal(relinked[1].changed, true)
    assert.equal((await loadConfig(files[1])).mesh.bootstrap[0], `/ip4/127.0.0.1/tcp/4001/p2p/${ids['domain-a']}`)
  })

  it('names an unknown placeholder', async () => {
    const dir = await tempDir()
    const file = join(dir, 'x.yaml')
    await copyFile('config/federation/domain-a.yaml', file)
    const text = (await readFile(file, 'utf8')).replace(/^dataDir: .*$/m, `dataDir: ${join(dir, 'data')}`)
    await writeFile(file, text)
    await assert.rejects(linkConfigs([file]), (err: Error & { issues?: string[] }) =>
      err.issues?.[0] === 'placeholder {peer-id:domain-b}: no config among the linked files has domain.name domain-b')
  })
})

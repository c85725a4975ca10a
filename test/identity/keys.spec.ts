import { strict as assert } from 'node:assert'
import { chmod, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { loadOrCreateDomainKey, withCachedSigning, KEY_FILE_NAME } from '../../identity/index.ts'
import { cleanup, tempDir } from '../helpers/index.ts'

describe('identity: domain keys', () => {
  after(cleanup)

  it('creates an Ed25519 key with mode 0600 on first use and reuses it after', async () => {
    const dir = await tempDir()
    const first = await loadOrCreateDomainKey(dir)
    assert.equal(first.created, true)
    assert.equal(first.privateKey.type, 'Ed25519')
    assert.equal((await stat(first.file)).mode & 0o777, 0o600)
    const second = await loadOrCreateDomainKey(dir)
    assert.equal(second.created, false)
    assert.equal(second.peerId.toString(), first.peerId.toString())
  })

  it('signs through a cached key object exactly as the libp2p key does (same signature, same key otherwise)', async () => {
    const { privateKey } = await loadOrCreateDomainKey(await tempDir())
    const fast = withCachedSigning(privateKey)
    const data = new TextEncoder().encode('a gossip message')
    const sig = await fast.sign(data)
    assert.deepEqual(new Uint8Array(sig), new Uint8Array(await privateKey.sign(data)))
    assert.equal(await privateKey.publicKey.verify(data, sig), true)
    assert.equal(await privateKey.publicKey.verify(new TextEncoder().encode('another message'), sig), false)
    assert.equal(fast.type, 'Ed25519')
    assert.equal(fast.equals(privateKey), true)
    assert.deepEqual(fast.publicKey.raw, privateKey.publicKey.raw)
  })

  it('tightens a key file that others can read back to 0600', async () => {
    const dir = await tempDir()
    const { file } = await loadOrCreateDomainKey(dir)
    await chmod(file, 0o644)
    await loadOrCreateDomainKey(dir)
    assert.equal((await stat(file)).mode & 0o777, 0o600)
  })

  it('refuses a key file that is not a private key, with a clear error', async () => {
    const dir = await tempDir()
    await writeFile(join(dir, KEY_FILE_NAME), 'not a key')
    await assert.rejects(loadOrCreateDomainKey(dir), (err: Error & { code?: string }) =>
      err.code === 'IDENTITY_BAD_KEY_FILE' && err.message.includes(KEY_FILE_NAME))
  })
})

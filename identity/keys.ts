import { chmod, mkdir, open, readFile, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { KeyFileError } from './errors.ts'
import { KEY_FILE_MODE, KEY_FILE_NAME } from './constants.ts'

export interface DomainKey {
  privateKey: PrivateKey
  peerId: PeerId
  /** where the key lives */
  file: string
  /** true when this call created the key */
  created: boolean
}

/**
 * Loads the domain's Ed25519 key from `dataDir/peer.key`, creating it (mode 0600) on first use, so
 * the libp2p peer id stays the same across restarts. A key file readable by group or others is
 * tightened to 0600, since the file is the domain's identity.
 */
export async function loadOrCreateDomainKey (dataDir: string): Promise<DomainKey> {
  const file = join(dataDir, KEY_FILE_NAME)
  let bytes: Uint8Array | undefined
  try {
    bytes = await readFile(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new KeyFileError(file, (err as Error).message)
  }
  if (bytes != null) {
    let privateKey: PrivateKey
    try {
      privateKey = privateKeyFromProtobuf(bytes)
    } catch (err) {
      throw new KeyFileError(file, `not a libp2p private key (${(err as Error).message})`)
    }
    if (privateKey.type !== 'Ed25519') throw new KeyFileError(file, `expected an Ed25519 key, found ${privateKey.type}`)
    if (((await stat(file)).mode & 0o077) !== 0) await chmod(file, KEY_FILE_MODE)
    return { privateKey, peerId: peerIdFromPrivateKey(privateKey), file, created: false }
  }
  const privateKey = await generateKeyPair('Ed25519')
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  // 'wx': never overwrite a key another process created in the meantime.
  const handle = await open(file, 'wx', KEY_FILE_MODE)
  try {
    await handle.writeFile(privateKeyToProtobuf(privateKey))
    await handle.sync()
  } finally {
    await handle.close()
  }
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey), file, created: true }
}

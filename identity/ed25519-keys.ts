import { createPrivateKey, createPublicKey, KeyObject, type JsonWebKey } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import { KeyFormatError } from './errors.ts'

/**
 * Conversions between the domain's libp2p Ed25519 key and what JOSE and other domains use.
 *
 * Published form of a domain's public key (e.g. in its replicated `Domain` entity):
 * `ed25519:<base64url of the 32 raw bytes>`; the prefix leaves room for other key types later.
 * The libp2p peer id of an Ed25519 key also embeds the public key (`publicKeyFromPeerId`).
 */

/** A libp2p key (`@libp2p/crypto`): Ed25519 private keys hold seed‖public (64 bytes) in `raw`. */
interface Libp2pKeyLike {
  type: string
  raw: Uint8Array
  publicKey?: { raw: Uint8Array }
}

/** The domain's private key: the libp2p key from `loadOrCreateDomainKey`, or a Node KeyObject. */
export type PrivateKeyLike = Libp2pKeyLike | KeyObject

/** A public key: the published string, 32 raw bytes, a libp2p public key, a KeyObject or an OKP JWK. */
export type PublicKeyLike = string | Uint8Array | Libp2pKeyLike | KeyObject | JsonWebKey

const PREFIX = 'ed25519:'
const privateCache = new WeakMap<object, KeyObject>()
const publicCache = new WeakMap<object, KeyObject>()
/** Verifiers see the same few issuer keys again and again; parsing them once saves work per request. */
const stringCache = new Map<string, KeyObject>()
const STRING_CACHE_MAX = 1024

export function toPrivateKeyObject (key: PrivateKeyLike): KeyObject {
  if (key instanceof KeyObject) {
    if (key.type !== 'private' || key.asymmetricKeyType !== 'ed25519') throw new KeyFormatError('expected an Ed25519 private key')
    return key
  }
  const cached = privateCache.get(key)
  if (cached != null) return cached
  if (key?.type !== 'Ed25519' || !(key.raw instanceof Uint8Array) || key.raw.length !== 64) throw new KeyFormatError('expected a libp2p Ed25519 private key')
  const seed = key.raw.subarray(0, 32)
  const pub = key.raw.subarray(32)
  const obj = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: b64url(seed), x: b64url(pub) }, format: 'jwk' })
  privateCache.set(key, obj)
  return obj
}

export function toPublicKeyObject (key: PublicKeyLike | PrivateKeyLike): KeyObject {
  if (typeof key === 'string') return importPublicKey(key)
  if (key instanceof KeyObject) {
    if (key.asymmetricKeyType !== 'ed25519') throw new KeyFormatError('expected an Ed25519 key')
    return key.type === 'private' ? createPublicKey(key) : key
  }
  if (key instanceof Uint8Array) return fromRaw(key)
  const cached = publicCache.get(key)
  if (cached != null) return cached
  let obj: KeyObject
  if ('kty' in key) {
    const jwk = key
    if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new KeyFormatError('expected an OKP Ed25519 JWK')
    obj = fromRaw(Buffer.from(jwk.x, 'base64url'))
  } else if ('raw' in key && key.type === 'Ed25519') {
    // A libp2p private key carries its public half; a libp2p public key is the 32 bytes itself.
    const k = key as Libp2pKeyLike
    obj = fromRaw(k.publicKey?.raw ?? k.raw)
  } else {
    throw new KeyFormatError('unsupported key object')
  }
  publicCache.set(key, obj)
  return obj
}

/** The 32 raw public key bytes. */
export function publicKeyRaw (key: PublicKeyLike | PrivateKeyLike): Uint8Array {
  const jwk = toPublicKeyObject(key).export({ format: 'jwk' })
  return Buffer.from(jwk.x as string, 'base64url')
}

/** `ed25519:<base64url>`: the form a domain publishes in its `Domain` entity. */
export function exportPublicKey (key: PublicKeyLike | PrivateKeyLike): string {
  return PREFIX + b64url(publicKeyRaw(key))
}

/** Parses `ed25519:<base64url>` (as written by `exportPublicKey`). @throws KeyFormatError */
export function importPublicKey (text: string): KeyObject {
  const cached = stringCache.get(text)
  if (cached != null) return cached
  if (typeof text !== 'string' || !text.startsWith(PREFIX) || !/^[A-Za-z0-9_-]{43}$/.test(text.slice(PREFIX.length))) {
    throw new KeyFormatError(`expected ${PREFIX}<43 base64url characters>`)
  }
  const obj = fromRaw(Buffer.from(text.slice(PREFIX.length), 'base64url'))
  if (stringCache.size >= STRING_CACHE_MAX) stringCache.clear()
  stringCache.set(text, obj)
  return obj
}

/** The public key as a JWK (`{ kty: 'OKP', crv: 'Ed25519', x }`), e.g. for a JWKS document. */
export function publicKeyToJwk (key: PublicKeyLike | PrivateKeyLike): JsonWebKey {
  return { kty: 'OKP', crv: 'Ed25519', x: b64url(publicKeyRaw(key)) }
}

/** The public key inside an Ed25519 libp2p peer id, so a peer id alone identifies a token signer. */
export function publicKeyFromPeerId (peerId: string): KeyObject {
  let raw: Uint8Array | undefined
  try {
    const id = peerIdFromString(peerId)
    raw = id.type === 'Ed25519' ? id.publicKey.raw : undefined
  } catch {
    throw new KeyFormatError('not a libp2p peer id')
  }
  if (raw == null) throw new KeyFormatError('not an Ed25519 peer id')
  return fromRaw(raw)
}

function fromRaw (raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new KeyFormatError('an Ed25519 public key has 32 bytes')
  try {
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(raw) }, format: 'jwk' })
  } catch {
    throw new KeyFormatError('not a valid Ed25519 public key')
  }
}

function b64url (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url')
}

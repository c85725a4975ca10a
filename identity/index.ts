/**
 * Identity: the domain's keys (later also the federation CA, users, roles and tokens).
 *
 * ```ts
 * const { privateKey, peerId } = await loadOrCreateDomainKey('/var/lib/cmesh')
 * ```
 * The Ed25519 key doubles as the domain's libp2p identity, so its peer id names the domain in
 * bootstrap lists and membership allowlists.
 */
export { loadOrCreateDomainKey, type DomainKey } from './keys.ts'
export { IdentityError, KeyFileError } from './errors.ts'
export { KEY_FILE_NAME, KEY_FILE_MODE } from './constants.ts'

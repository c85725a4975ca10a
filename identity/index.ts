/**
 * Identity: the domain's keys, the federation CA and domain certificates, user directories, roles
 * and tokens valid across the federation.
 *
 * ```ts
 * const { privateKey, peerId } = await loadOrCreateDomainKey('/var/lib/cmesh')
 * const directory = new EmbeddedDirectory({ file: '/var/lib/cmesh/users.json' })
 * const user = await directory.authenticate('alice', password)
 * const roles = rolesFromGroups(user.groups, DEFAULT_ROLE_MAPPING)
 * const { token } = await issueToken({ privateKey, issuer: 'domain-a', subject: user.username, roles, audience: 'continuum' })
 * // at any member domain, with domain-a's published key (exportPublicKey) from its Domain entity:
 * const claims = await verifyToken(token, { audience: 'continuum', getIssuerKey: async name => publishedKeys.get(name) ?? null })
 * hasRole(claims.roles, 'deployer')
 * ```
 * The Ed25519 key doubles as the domain's libp2p identity, so its peer id names the domain in
 * bootstrap lists and membership allowlists; it also signs the domain's tokens. The federation CA
 * (RSA, node-forge) certifies each domain's name, FQDN and peer id for HTTPS and membership.
 */
export { loadOrCreateDomainKey, type DomainKey } from './keys.ts'
export {
  IdentityError, KeyFileError, InvalidArgumentError,
  CaExistsError, CaNotFoundError, CertInvalidError, CertRevokedError, RevocationListInvalidError, type CertInvalidReason,
  InvalidCredentialsError, DirectoryUnavailableError, UserExistsError, UserNotFoundError, WeakPasswordError, DirectoryFileError,
  TokenExpiredError, TokenInvalidError, UnknownIssuerError, IssuerRevokedError, KeyFormatError
} from './errors.ts'
export {
  KEY_FILE_NAME, KEY_FILE_MODE, CA_KEY_FILE, CA_CERT_FILE, DOMAIN_CERT_FILE, DOMAIN_KEY_FILE, FEDERATION_CA_FILE,
  USERS_FILE_NAME, MIN_PASSWORD_LENGTH, ACCESS_TOKEN_TTL_SEC, REFRESH_TOKEN_TTL_SEC, LDAP_TIMEOUT_MS
} from './constants.ts'
export type { Directory, DirectoryUser, AuthenticateOptions, IdentityLogger } from './interface.ts'

// Federation CA and domain certificates
export { initCa, issueDomainCertificate, type InitCaOptions, type CaInfo, type IssueDomainCertificateOptions, type IssuedCertificate } from './ca.ts'
export {
  verifyDomainCertificate, writeDomainCertificate, readDomainCertificate,
  type VerifyDomainCertificateOptions, type VerifiedDomainCertificate, type DomainCertificateFiles
} from './domain-certificate.ts'
export {
  createRevocationList, verifyRevocationList, isRevoked, isNewerRevocationList,
  type RevocationList, type CreateRevocationListOptions
} from './revocation.ts'
export { normalizeSerial } from './serial.ts'

// Users and directories
export { EmbeddedDirectory, type EmbeddedDirectoryInit, type EmbeddedDirectoryComponents } from './embedded-directory.ts'
export { addUser, setPassword, removeUser, listUsers, type NewUser, type ListedUser } from './user-file.ts'
export { LdapDirectory, type LdapDirectoryInit, type LdapDirectoryComponents } from './ldap-directory.ts'

// Roles
export { ROLES, type Role, type RoleMapping, isRole, hasRole, rolesFromGroups, DEFAULT_ROLE_MAPPING, AEROS_ROLE_MAPPING } from './roles.ts'

// Tokens and the domain's public key
export {
  issueToken, issueRefreshToken, verifyToken, verifyRefreshToken, refresh,
  type IssueTokenOptions, type IssuedToken, type VerifyTokenOptions, type VerifiedToken, type RefreshOptions
} from './tokens.ts'
export {
  exportPublicKey, importPublicKey, publicKeyToJwk, publicKeyFromPeerId, publicKeyRaw,
  type PublicKeyLike, type PrivateKeyLike
} from './ed25519-keys.ts'
export { createSigner, verifyPeerSignature, withCachedSigning, type DomainSigner } from './signing.ts'
export { canonicalJson } from './canonical-json.ts'

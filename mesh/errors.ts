/** Errors of the mesh module, each with a stable code. */
export class MeshError extends Error {
  readonly code: string
  readonly data: Record<string, unknown>

  constructor (code: string, message: string, data: Record<string, unknown> = {}) {
    super(message)
    this.name = 'MeshError'
    this.code = code
    this.data = data
  }
}

/** A peer outside the federation tried to connect or publish. */
export class NotMemberError extends MeshError {
  constructor (peerId: string) {
    super('MESH_NOT_MEMBER', `peer ${peerId} is not a member of the federation`, { peerId })
    this.name = 'NotMemberError'
  }
}

/** A connected peer failed to prove membership by certificate (refused, with the reason). */
export class CertificateRefusedError extends MeshError {
  constructor (peerId: string, reason: string) {
    super('MESH_CERTIFICATE_REFUSED', `peer ${peerId} refused: ${reason}`, { peerId, reason })
    this.name = 'CertificateRefusedError'
  }
}

/** This domain's own certificate cannot be used with the configured CA (wrong CA, peer id or domain). */
export class OwnCertificateError extends MeshError {
  constructor (reason: string) {
    super('MESH_OWN_CERTIFICATE_INVALID', `this domain's certificate cannot be used: ${reason}`, { reason })
    this.name = 'OwnCertificateError'
  }
}

/** A certificate operation (revocation list) on a mesh configured without a federation CA. */
export class NoCertificateAuthorityError extends MeshError {
  constructor () {
    super('MESH_NO_CA', 'the mesh has no federation CA configured')
    this.name = 'NoCertificateAuthorityError'
  }
}

/**
 * A one-line description of anything thrown: libp2p and abort paths can throw values that are
 * not Errors, or Errors without a message, and status tables must always get a string.
 */
export function describeError (err: unknown): string {
  if (err instanceof Error) return err.message !== '' ? err.message : err.name
  if (typeof err === 'string' && err !== '') return err
  try { return JSON.stringify(err) ?? String(err) } catch { return String(err) }
}

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

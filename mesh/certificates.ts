import type { PeerId } from '@libp2p/interface'
import {
  CertInvalidError, isNewerRevocationList, isRevoked, verifyDomainCertificate, verifyRevocationList,
  type RevocationList, type VerifiedDomainCertificate
} from '../identity/index.ts'
import { CERT_REFUSAL_COOLDOWN_MS, MAX_CERT_PEM_CHARS } from './constants.ts'
import { OwnCertificateError } from './errors.ts'
import type { CertifiedPeer, MembershipPolicy, RevocationUpdate } from './interface.ts'

export interface CertificatePolicyComponents {
  /** the static allowlist (or the node's own policy), which keeps working alongside certificates */
  base: MembershipPolicy
  /** told about each certificate that verified for the first time (new peer or renewed certificate) */
  onCertified?: (peer: CertifiedPeer) => void
}

export interface CertificatePolicyInit {
  /** this node's peer id */
  self: string
  /** the federation CA certificate (PEM) */
  caCertPem: string
  /** this domain's certificate (PEM); it must name `self` */
  certPem: string
  /** how long a peer that failed to prove membership is refused, ms (default CERT_REFUSAL_COOLDOWN_MS) */
  refusalCooldownMs?: number
}

/** The result of checking a certificate a peer presented. */
export type CertificateCheck =
  | { ok: true, peer: CertifiedPeer, changed: boolean }
  | { ok: false, reason: string, revoked: boolean }

interface Proof {
  info: CertifiedPeer
  pem: string
  notAfterMs: number
}

/**
 * Membership by certificate on top of a base policy (the static allowlist): a peer is a member when
 * the base policy says so or when it presented a domain certificate, issued by the federation CA,
 * naming its peer id, unexpired and not revoked. A peer whose certificate we know to be revoked is
 * refused even when allowlisted: revocation is the federation's word that the domain is
 * compromised or gone, and it must not take an edit of every allowlist to make it stick.
 *
 * It holds no connections; `CertificateExchange` feeds it what peers present, and the gater asks it
 * who may connect (`connectionRefusal`): anyone not refused, so that unknown peers can present a
 * certificate at all.
 */
export class CertificatePolicy implements MembershipPolicy {
  /** this domain's own certificate, as verified at construction */
  readonly own: VerifiedDomainCertificate
  readonly certPem: string
  readonly caCertPem: string
  private readonly c: CertificatePolicyComponents
  private readonly self: string
  private readonly cooldownMs: number
  private readonly proofs = new Map<string, Proof>()
  private readonly cooldowns = new Map<string, { until: number, reason: string }>()
  private list: RevocationList | null = null

  /** @throws OwnCertificateError when `certPem` was not issued by the CA to `self` */
  constructor (components: CertificatePolicyComponents, init: CertificatePolicyInit) {
    this.c = components
    this.self = init.self
    this.caCertPem = init.caCertPem
    this.certPem = init.certPem
    this.cooldownMs = init.refusalCooldownMs ?? CERT_REFUSAL_COOLDOWN_MS
    try {
      this.own = verifyDomainCertificate(init.certPem, init.caCertPem, { peerId: init.self })
    } catch (err) {
      throw new OwnCertificateError((err as Error).message)
    }
  }

  isMember (peerId: PeerId | string): boolean {
    const id = peerId.toString()
    if (id === this.self) return true
    const proof = this.proofs.get(id)
    if (proof?.info.revoked === true) return false
    if (this.c.base.isMember(id)) return true
    return proof != null && proof.notAfterMs > Date.now()
  }

  connectionRefusal (peerId: PeerId | string): string | null {
    const id = peerId.toString()
    if (this.isMember(id)) return null
    const proof = this.proofs.get(id)
    if (proof?.info.revoked === true) return `certificate revoked (serial ${proof.info.serial})`
    const cooldown = this.cooldowns.get(id)
    if (cooldown != null) {
      if (cooldown.until > Date.now()) return cooldown.reason
      this.cooldowns.delete(id)
    }
    // Unknown so far: let it connect, it has a few seconds to present its certificate.
    return null
  }

  /** Why `peerId` is not a member (for logs and the refusal count); null when it is one. */
  nonMemberReason (peerId: PeerId | string): string | null {
    const id = peerId.toString()
    if (this.isMember(id)) return null
    const proof = this.proofs.get(id)
    if (proof?.info.revoked === true) return `certificate revoked (serial ${proof.info.serial})`
    if (proof != null) return `certificate expired at ${proof.info.notAfter}`
    return this.cooldowns.get(id)?.reason ?? 'not a federation member'
  }

  /**
   * Checks a certificate `peerId` presented (on a connection, or in a heartbeat it signed) and
   * remembers it when valid, or when it is valid but revoked (so the gater can refuse the peer).
   */
  verify (peerId: string, certPem: unknown, source: CertifiedPeer['source']): CertificateCheck {
    if (typeof certPem !== 'string' || certPem.length === 0) return { ok: false, reason: 'no certificate presented', revoked: false }
    if (certPem.length > MAX_CERT_PEM_CHARS) return { ok: false, reason: `certificate of ${certPem.length} characters exceeds ${MAX_CERT_PEM_CHARS}`, revoked: false }
    const now = Date.now()
    const known = this.proofs.get(peerId)
    if (known != null && known.pem === certPem) {
      // The same certificate again (renewed connection, periodic heartbeat): its signature checked
      // out before, only time and revocation can have changed.
      if (known.info.revoked) return { ok: false, reason: `certificate revoked (serial ${known.info.serial})`, revoked: true }
      if (known.notAfterMs <= now) return { ok: false, reason: `certificate expired at ${known.info.notAfter}`, revoked: false }
      known.info.verifiedAt = new Date(now).toISOString()
      if (source === 'connection') known.info.source = 'connection'
      return { ok: true, peer: { ...known.info }, changed: false }
    }
    let v: VerifiedDomainCertificate
    try {
      v = verifyDomainCertificate(certPem, this.caCertPem, { peerId })
    } catch (err) {
      if (err instanceof CertInvalidError) return { ok: false, reason: err.message, revoked: false }
      return { ok: false, reason: `certificate unreadable: ${(err as Error).message}`, revoked: false }
    }
    if (v.domain === this.own.domain) {
      return { ok: false, reason: `certificate names this node's own domain ${v.domain}`, revoked: false }
    }
    const revoked = this.list != null && isRevoked(this.list, v.serial)
    const info: CertifiedPeer = {
      peerId,
      domain: v.domain,
      fqdn: v.fqdn,
      serial: v.serial,
      notAfter: v.notAfter.toISOString(),
      verifiedAt: new Date(now).toISOString(),
      source,
      revoked
    }
    // A revoked certificate is remembered too: it is what lets the gater refuse the peer later.
    this.proofs.set(peerId, { info, pem: certPem, notAfterMs: v.notAfter.getTime() })
    if (revoked) return { ok: false, reason: `certificate revoked (serial ${v.serial})`, revoked: true }
    this.cooldowns.delete(peerId)
    this.c.onCertified?.({ ...info })
    return { ok: true, peer: { ...info }, changed: true }
  }

  /** True while a refusal set by `refuseFor` is in force. */
  isRefused (peerId: string): boolean {
    return (this.cooldowns.get(peerId)?.until ?? 0) > Date.now()
  }

  /** Refuses a peer that failed to prove membership for a while (see CERT_REFUSAL_COOLDOWN_MS). */
  refuseFor (peerId: string, reason: string): void {
    this.cooldowns.set(peerId, { until: Date.now() + this.cooldownMs, reason })
  }

  /**
   * Takes a revocation list (as `createRevocationList` makes it) when it verifies against the CA
   * and is newer than the one in force, and marks the known peers it revokes.
   * @throws RevocationListInvalidError (IDENTITY_REVOCATION_LIST_INVALID) for a forged, foreign or malformed list
   */
  setRevocationList (doc: unknown): RevocationUpdate {
    const list = verifyRevocationList(doc, this.caCertPem)
    if (!isNewerRevocationList(list, this.list)) {
      return { applied: false, sequence: this.list?.sequence ?? list.sequence, revokedPeers: [] }
    }
    this.list = list
    const revokedPeers: string[] = []
    for (const proof of this.proofs.values()) {
      // Recomputed both ways: the list in force decides (lists are cumulative, so this only adds).
      const revoked = isRevoked(list, proof.info.serial)
      if (revoked && !proof.info.revoked) revokedPeers.push(proof.info.peerId)
      proof.info.revoked = revoked
    }
    return { applied: true, sequence: list.sequence, revokedPeers }
  }

  /** The revocation list in force, or null. */
  revocationList (): RevocationList | null {
    return this.list
  }

  /** True when the list in force revokes this domain's own certificate. */
  ownRevoked (): boolean {
    return this.list != null && isRevoked(this.list, this.own.serial)
  }

  /** What `peerId` proved with its certificate, or null if it never presented a valid one. */
  certificateOf (peerId: string): CertifiedPeer | null {
    const proof = this.proofs.get(peerId)
    return proof == null ? null : { ...proof.info }
  }

  /** Every peer that presented a valid certificate (revoked ones included, flagged). */
  certifiedPeers (): CertifiedPeer[] {
    return [...this.proofs.values()].map(p => ({ ...p.info }))
  }
}

// Who is calling a service. Only the gateway authenticates people (passwords,
// sessions, tokens: gateway/auth/); it then tells a service who the caller is
// in the `Gozon-Identity` header, with proof that only a holder of
// IDENTITY_PROOF_KEY can produce, bound to the one request it travels with:
//
//   v2.<audience>.<userId>.<issued at, unix ms>.<nonce>.<base64url HMAC-SHA256(key,
//       "gozon-identity.v2\n<audience>\n<userId>\n<issued at>\n<nonce>\n<METHOD>\n<path?query>\n<base64url SHA-256 of the body>")>
//
// - The audience is the service the proof is for ("orders" or "payments"), so
//   a proof seen by one service is worthless at the other.
// - Method, path with query and body digest: a proof captured from one request
//   (say a GET of the balance) is refused for any other (a top-up, an order).
// - It lives PROOF_MAX_AGE_MS (15 s), and each service remembers the nonces it
//   accepted for that long and refuses a second use (ProofReplayCache).
// With several instances of a service behind a balancer, each remembers only
// its own nonces, so the exact same request could be replayed once at each
// other instance within 15 s by someone who can read the traffic between the
// gateway and the services. The requests that move money (creating an order,
// a top-up) therefore also claim their nonce in the service's database, in
// the statement or transaction of the write (shared/http/proof-nonces.ts):
// one use across every instance. A replayed read is still answered once per
// instance; it changes nothing.
//
// For local development only, DEV_TRUST_USER_ID_HEADER=true makes the gateway
// and the services believe a bare `X-User-Id` header. It is off by default and
// every process that has it on says so loudly at start.
import { createHmac, timingSafeEqual } from 'node:crypto'
import type { EnvReader } from './config'
import type { Logger } from './logger'

export const IDENTITY_HEADER = 'gozon-identity'
/** The development-only header; the gateway strips it from clients unless dev mode is on. */
export const USER_ID_HEADER = 'x-user-id'
export const USER_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/
export const PROOF_MAX_AGE_MS = 15_000
/** Clocks of the gateway and a service may differ a little. */
const PROOF_MAX_SKEW_MS = 5_000

export type Audience = 'orders' | 'payments'

export type IdentitySettings = {
  /** Shared by the gateway and the services; undefined only in dev mode. */
  proofKey: string | undefined
  /** Believe a bare X-User-Id header (local development only). */
  devTrustUserIdHeader: boolean
}

export function isValidUserId(value: unknown): value is string {
  return typeof value === 'string' && USER_ID_PATTERN.test(value)
}

/** Reads IDENTITY_PROOF_KEY and DEV_TRUST_USER_ID_HEADER; one of them is required. */
export function readIdentitySettings(env: EnvReader): IdentitySettings {
  const proofKey = env.secret('IDENTITY_PROOF_KEY', 32)
  const devTrustUserIdHeader = env.boolean('DEV_TRUST_USER_ID_HEADER', false)
  if (!proofKey && !devTrustUserIdHeader) {
    env.problem(
      'IDENTITY_PROOF_KEY is required: at least 32 random characters, the same for the gateway and the services (`bun start` generates one in .data/secrets.json); for local development without it, DEV_TRUST_USER_ID_HEADER=true',
    )
  }
  return { proofKey, devTrustUserIdHeader }
}

/** Says, at start and at warn level, that anyone may act as anyone. */
export function warnIfInsecure(log: Logger, settings: IdentitySettings): void {
  if (!settings.devTrustUserIdHeader) return
  const message =
    'INSECURE DEVELOPMENT MODE: DEV_TRUST_USER_ID_HEADER=true, so any caller can act as any user by sending X-User-Id. Never run it like this outside your own machine.'
  log.warn({ devTrustUserIdHeader: true }, message)
  console.error(`\n*** ${message} ***\n`)
}

/** What a proof is bound to, besides audience, user and time: the request itself. */
export type BoundRequest = {
  method: string
  /** Path and query exactly as sent ("/api/orders?limit=5"). */
  pathAndQuery: string
  /** base64url SHA-256 of the body bytes (bodyDigest); of nothing for a request without body. */
  bodyDigest: string
}

/** The digest a proof carries for a body: base64url SHA-256 of its bytes (UTF-8 for a string). */
export function bodyDigest(body: string | ArrayBuffer | Uint8Array | undefined): string {
  return new Bun.CryptoHasher('sha256').update(body ?? '').digest('base64url')
}

function mac(key: string, fields: string[]): Buffer {
  return createHmac('sha256', key).update(fields.join('\n')).digest()
}

const macFields = (audience: string, userId: string, issuedAt: string, nonce: string, request: BoundRequest) => [
  'gozon-identity.v2',
  audience,
  userId,
  issuedAt,
  nonce,
  request.method.toUpperCase(),
  request.pathAndQuery,
  request.bodyDigest,
]

export function signIdentity(key: string, audience: Audience, userId: string, request: BoundRequest, now = Date.now()): string {
  const nonce = Buffer.from(crypto.getRandomValues(new Uint8Array(12))).toString('base64url')
  const issuedAt = String(now)
  return `v2.${audience}.${userId}.${issuedAt}.${nonce}.${mac(key, macFields(audience, userId, issuedAt, nonce, request)).toString('base64url')}`
}

/** A proof that verified: who, and its nonce (to be remembered against replay). */
export type VerifiedProof = { userId: string; nonce: string; issuedAt: number }

/**
 * A proof's parts when it has the shape of one for `audience`, issued within
 * its lifetime; undefined otherwise. Says nothing of its MAC: a service checks
 * this before reading a request's body (shared/http/service-app.ts), then the
 * whole proof with verifyIdentity.
 */
export function proofParts(audience: Audience, proof: string, now = Date.now()) {
  const parts = proof.split('.')
  // The user id may itself contain dots: everything between audience and time.
  if (parts.length < 6 || parts[0] !== 'v2' || parts[1] !== audience) return undefined
  const signature = parts.at(-1) ?? ''
  const nonce = parts.at(-2) ?? ''
  const issuedAtText = parts.at(-3) ?? ''
  const userId = parts.slice(2, -3).join('.')
  if (!/^\d{1,15}$/.test(issuedAtText) || !/^[A-Za-z0-9_-]{16}$/.test(nonce) || !isValidUserId(userId)) return undefined
  const issuedAt = Number(issuedAtText)
  if (issuedAt > now + PROOF_MAX_SKEW_MS || now - issuedAt > PROOF_MAX_AGE_MS) return undefined
  return { userId, nonce, issuedAt, issuedAtText, signature }
}

/** The proof's claims, or undefined when it is malformed, forged, for another service or request, or too old. */
export function verifyIdentity(key: string, audience: Audience, proof: string, request: BoundRequest, now = Date.now()): VerifiedProof | undefined {
  const parts = proofParts(audience, proof, now)
  if (!parts) return undefined
  const { userId, nonce, issuedAt, issuedAtText, signature } = parts
  const expected = mac(key, macFields(audience, userId, issuedAtText, nonce, request))
  // Canonical base64url only: re-encoding must give back the very text sent.
  const given = Buffer.from(signature, 'base64url')
  if (given.length !== expected.length || given.toString('base64url') !== signature || !timingSafeEqual(given, expected)) return undefined
  return { userId, nonce, issuedAt }
}

/** When a proof stops being accepted, whatever the clocks: from then on its nonce need not be remembered. */
export function proofExpiresAt(proof: VerifiedProof, now = Date.now()): number {
  return Math.max(now, proof.issuedAt) + PROOF_MAX_AGE_MS + PROOF_MAX_SKEW_MS
}

/**
 * The nonces of proofs accepted in the last PROOF_MAX_AGE_MS (+ skew), so the
 * same proof is accepted once. Insertion order is time order, so forgetting
 * the expired ones is a walk from the oldest.
 */
export class ProofReplayCache {
  private readonly seen = new Map<string, number>()

  /** True the first time a nonce is offered within its lifetime; false for a replay. */
  accept(proof: VerifiedProof, now = Date.now()): boolean {
    for (const [nonce, expires] of this.seen) {
      if (expires > now) break
      this.seen.delete(nonce)
    }
    if (this.seen.has(proof.nonce)) return false
    this.seen.set(proof.nonce, proofExpiresAt(proof, now))
    return true
  }

  get size(): number {
    return this.seen.size
  }
}

/** The headers that tell `audience` who the caller is: a fresh proof for this request, or X-User-Id in dev mode without a key. */
export function identityHeaders(settings: IdentitySettings, audience: Audience, userId: string, request: BoundRequest): Record<string, string> {
  if (settings.proofKey) return { [IDENTITY_HEADER]: signIdentity(settings.proofKey, audience, userId, request) }
  return { [USER_ID_HEADER]: userId }
}

/** The caller from a request to a service, with the proof that named it (none in development mode), or undefined (no, a bad or a replayed proof). */
export function callerOf(
  settings: IdentitySettings,
  audience: Audience,
  headers: Headers,
  request: BoundRequest,
  replays: ProofReplayCache,
): { userId: string; proof: VerifiedProof | undefined } | undefined {
  const proof = headers.get(IDENTITY_HEADER)
  if (proof !== null && settings.proofKey) {
    const verified = verifyIdentity(settings.proofKey, audience, proof, request)
    return verified && replays.accept(verified) ? { userId: verified.userId, proof: verified } : undefined
  }
  if (settings.devTrustUserIdHeader) {
    const userId = headers.get(USER_ID_HEADER)
    return isValidUserId(userId) ? { userId, proof: undefined } : undefined
  }
  return undefined
}

/** What a service's request is, as its proof must name it. */
export async function boundRequestOf(request: Request): Promise<BoundRequest> {
  const url = new URL(request.url)
  return { method: request.method, pathAndQuery: `${url.pathname}${url.search}`, bodyDigest: await receivedBodyDigest(request) }
}

// The digest of each request's body, taken by the services' JSON parser
// (shared/http/json-body.ts parseJsonBody), so the proof check sees the bytes
// the handler gets; a request without a parsed body has the empty digest.
const digests = new WeakMap<Request, string>()
const EMPTY_BODY_DIGEST = bodyDigest(undefined)

async function receivedBodyDigest(request: Request): Promise<string> {
  return digests.get(request) ?? EMPTY_BODY_DIGEST
}

/** Remembers the digest of the request's body, as the service's JSON parser read it. */
export function rememberBodyDigest(request: Request, body: string): void {
  digests.set(request, bodyDigest(body))
}

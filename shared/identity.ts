// Who is calling a service. Only the gateway authenticates people (passwords,
// sessions, tokens: gateway/auth/); it then tells a service who the caller is
// in the `Gozon-Identity` header, with proof that only a holder of
// IDENTITY_PROOF_KEY can produce:
//
//   v1.<audience>.<userId>.<issued at, unix ms>.<base64url HMAC-SHA256(key, "gozon-identity.v1.<audience>.<userId>.<issued at>")>
//
// The audience is the service the proof is for ("orders" or "payments"), so a
// proof seen by one service is worthless at the other; a proof older than
// PROOF_MAX_AGE_MS is refused, which bounds replay of a captured header.
//
// For local development only, DEV_TRUST_USER_ID_HEADER=true makes the gateway
// and the services believe a bare `X-User-Id` header. It is off by default and
// every process that has it on says so loudly at start.
import { createHmac, timingSafeEqual } from 'node:crypto'
import { Elysia } from 'elysia'
import type { EnvReader } from './config'
import { AppError } from './errors'
import type { Logger } from './logger'

export const IDENTITY_HEADER = 'gozon-identity'
/** The development-only header; the gateway strips it from clients unless dev mode is on. */
export const USER_ID_HEADER = 'x-user-id'
export const USER_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/
export const PROOF_MAX_AGE_MS = 60_000
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

function mac(key: string, text: string): Buffer {
  return createHmac('sha256', key).update(text).digest()
}

export function signIdentity(key: string, audience: Audience, userId: string, now = Date.now()): string {
  const signed = `v1.${audience}.${userId}.${now}`
  return `${signed}.${mac(key, `gozon-identity.${signed}`).toString('base64url')}`
}

/** The user id the proof vouches for, or undefined when it is malformed, forged, for another service or too old. */
export function verifyIdentity(key: string, audience: Audience, proof: string, now = Date.now()): string | undefined {
  const parts = proof.split('.')
  // The user id may itself contain dots: everything between audience and time.
  if (parts.length < 5 || parts[0] !== 'v1' || parts[1] !== audience) return undefined
  const signature = Buffer.from(parts.at(-1) ?? '', 'base64url')
  const issuedAtText = parts.at(-2) ?? ''
  const userId = parts.slice(2, -2).join('.')
  if (!/^\d{1,15}$/.test(issuedAtText) || !isValidUserId(userId)) return undefined
  const issuedAt = Number(issuedAtText)
  if (issuedAt > now + PROOF_MAX_SKEW_MS || now - issuedAt > PROOF_MAX_AGE_MS) return undefined
  const expected = mac(key, `gozon-identity.v1.${audience}.${userId}.${issuedAtText}`)
  if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) return undefined
  return userId
}

/** The headers that tell `audience` who the caller is: a fresh proof, or X-User-Id in dev mode without a key. */
export function identityHeaders(settings: IdentitySettings, audience: Audience, userId: string): Record<string, string> {
  if (settings.proofKey) return { [IDENTITY_HEADER]: signIdentity(settings.proofKey, audience, userId) }
  return { [USER_ID_HEADER]: userId }
}

/** The caller's user id from a request to a service, or undefined. */
export function callerOf(settings: IdentitySettings, audience: Audience, headers: Headers): string | undefined {
  const proof = headers.get(IDENTITY_HEADER)
  if (proof !== null && settings.proofKey) return verifyIdentity(settings.proofKey, audience, proof)
  if (settings.devTrustUserIdHeader) {
    const userId = headers.get(USER_ID_HEADER)
    return isValidUserId(userId) ? userId : undefined
  }
  return undefined
}

/** Resolves `userId` for every route of the controller that uses it, or answers 401. */
export function identity(settings: IdentitySettings, audience: Audience) {
  return new Elysia({ name: 'gozon.identity', seed: audience }).resolve({ as: 'scoped' }, ({ request }) => {
    const userId = callerOf(settings, audience, request.headers)
    if (userId === undefined) throw new AppError('unauthorized')
    return { userId }
  })
}

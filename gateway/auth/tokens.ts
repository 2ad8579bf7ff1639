// Signed, expiring tokens issued by the gateway: the session cookie of the
// pages and the bearer tokens of API clients have the same shape,
//
//   gz2.<key id>.<base64url JSON {k: kind, sub: user id, name: user name, sid: random, exp: unix s}>.<base64url HMAC-SHA256>
//
// keyed with the signing key named by the key id, which only the gateway
// holds: SESSION_SIGNING_KEY signs, and the keys of SESSION_VERIFY_KEYS are
// still accepted, so a new key can be brought in and the old one retired
// without signing anyone out (README, Identity). The MAC covers the key id,
// the kind and the claims. A bearer
// token is not stored anywhere, so checking one costs one HMAC and no
// database read; the price is that it cannot be revoked before it expires
// (an hour; rotating the key revokes all). A page session's sid is also a row
// of the gateway's database (gateway/auth/sessions.ts), so signing out ends
// it at once. A cookie is never accepted as a bearer token or the other way
// round: the kind is signed. Only the canonical encoding of a signature
// verifies (another spelling of the same bytes, such as a changed last
// base64url character, does not).
//
// The CSRF token of a session is an HMAC of its random sid, so a form carries
// a value that an attacker's page cannot read or compute.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'

/** A page session, an API bearer token, or a device cookie (a browser where this name signed in: gateway/auth/attempts.ts). */
export type TokenKind = 'session' | 'api' | 'device'

/** A verified token: who, under which session id, until when (unix seconds), signed with which key. */
export type Credential = { kind: TokenKind; userId: string; username: string; sessionId: string; expiresAt: number; keyId: string }

/** A signing key and its id (carried in every token it signs; not secret). */
export type SigningKey = { id: string; secret: string }

/** What a key id may be: short, and safe between the dots of a token. */
export const KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/

/** A stable id for a key given without one: the start of its SHA-256 (reveals nothing usable). */
export function keyIdOf(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url').slice(0, 8)
}

const PREFIX = 'gz2'
const MAX_TOKEN_LENGTH = 1024

function equal(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b)
}

export class TokenSigner {
  private readonly secrets = new Map<string, string>()

  /** `current` signs; `others` only verify (a key being brought in, or one being retired). */
  constructor(
    private readonly current: SigningKey,
    others: readonly SigningKey[] = [],
  ) {
    for (const key of [current, ...others]) {
      if (!KEY_ID_PATTERN.test(key.id)) throw new Error(`signing key id "${key.id}" must match ${KEY_ID_PATTERN}`)
      if (this.secrets.has(key.id)) throw new Error(`two signing keys have the id "${key.id}"`)
      this.secrets.set(key.id, key.secret)
    }
  }

  private mac(secret: string, purpose: string, text: string): string {
    return createHmac('sha256', secret).update(`gozon-${purpose}.${text}`).digest('base64url')
  }

  issue(
    kind: TokenKind,
    user: { id: string; username: string },
    ttlSeconds: number,
    now = Date.now(),
  ): { token: string; expiresAt: number; sessionId: string } {
    const expiresAt = Math.floor(now / 1000) + ttlSeconds
    const sessionId = crypto.randomUUID()
    const claims = { k: kind, sub: user.id, name: user.username, sid: sessionId, exp: expiresAt }
    const payload = Buffer.from(JSON.stringify(claims)).toString('base64url')
    const signed = `${this.current.id}.${payload}`
    return { token: `${PREFIX}.${signed}.${this.mac(this.current.secret, 'token', signed)}`, expiresAt, sessionId }
  }

  /** The credential, 'expired' for a genuine token past its time, or undefined for anything else. */
  verify(token: string, kind: TokenKind, now = Date.now()): Credential | 'expired' | undefined {
    if (token.length > MAX_TOKEN_LENGTH) return undefined
    const [prefix, keyId, payload, signature, ...rest] = token.split('.')
    if (prefix !== PREFIX || !keyId || !payload || !signature || rest.length > 0) return undefined
    const secret = this.secrets.get(keyId)
    if (secret === undefined) return undefined
    // Compared as text: base64url decoding ignores the spare bits of the last character.
    if (!equal(Buffer.from(signature), Buffer.from(this.mac(secret, 'token', `${keyId}.${payload}`)))) return undefined
    let claims: unknown
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
    } catch {
      return undefined
    }
    const c = claims as { k?: unknown; sub?: unknown; name?: unknown; sid?: unknown; exp?: unknown }
    if (c.k !== kind || typeof c.sub !== 'string' || typeof c.name !== 'string' || typeof c.sid !== 'string' || typeof c.exp !== 'number') {
      return undefined
    }
    if (c.exp * 1000 <= now) return 'expired'
    return { kind, userId: c.sub, username: c.name, sessionId: c.sid, expiresAt: c.exp, keyId }
  }

  /** The CSRF token of a session: a MAC of its id under the key that signed it. */
  csrfToken(credential: Credential): string {
    return this.mac(this.secrets.get(credential.keyId) ?? this.current.secret, 'csrf', credential.sessionId)
  }

  checkCsrf(credential: Credential, token: string): boolean {
    return token.length < 100 && equal(Buffer.from(token), Buffer.from(this.csrfToken(credential)))
  }
}

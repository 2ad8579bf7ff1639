// Signed, expiring tokens issued by the gateway: the session cookie of the
// pages and the bearer tokens of API clients have the same shape,
//
//   gz1.<base64url JSON {k: kind, sub: user id, name: user name, sid: random, exp: unix s}>.<base64url HMAC-SHA256>
//
// keyed with SESSION_SIGNING_KEY, which only the gateway holds. A bearer
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
import { createHmac, timingSafeEqual } from 'node:crypto'

export type TokenKind = 'session' | 'api'

/** A verified token: who, under which session id, until when (unix seconds). */
export type Credential = { kind: TokenKind; userId: string; username: string; sessionId: string; expiresAt: number }

const PREFIX = 'gz1'
const MAX_TOKEN_LENGTH = 1024

function equal(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b)
}

export class TokenSigner {
  constructor(private readonly key: string) {}

  private mac(purpose: string, text: string): Buffer {
    return createHmac('sha256', this.key).update(`gozon-${purpose}.${text}`).digest()
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
    return { token: `${PREFIX}.${payload}.${this.mac('token', payload).toString('base64url')}`, expiresAt, sessionId }
  }

  /** The credential, 'expired' for a genuine token past its time, or undefined for anything else. */
  verify(token: string, kind: TokenKind, now = Date.now()): Credential | 'expired' | undefined {
    if (token.length > MAX_TOKEN_LENGTH) return undefined
    const [prefix, payload, signature, ...rest] = token.split('.')
    if (prefix !== PREFIX || !payload || !signature || rest.length > 0) return undefined
    // Compared as text: base64url decoding ignores the spare bits of the last character.
    if (!equal(Buffer.from(signature), Buffer.from(this.mac('token', payload).toString('base64url')))) return undefined
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
    return { kind, userId: c.sub, username: c.name, sessionId: c.sid, expiresAt: c.exp }
  }

  csrfToken(credential: Credential): string {
    return this.mac('csrf', credential.sessionId).toString('base64url')
  }

  checkCsrf(credential: Credential, token: string): boolean {
    return token.length < 100 && equal(Buffer.from(token), Buffer.from(this.mac('csrf', credential.sessionId).toString('base64url')))
  }
}

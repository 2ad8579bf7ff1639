// How the gateway knows who is calling: the session cookie for pages and
// their WebSocket, a bearer token for API clients (and, in the development
// mode of shared/identity.ts only, a bare X-User-Id). Everything that reads
// credentials from a request is in this file.
import { bearerToken } from '../../shared/http/bearer'
import type { RateLimit } from '../../shared/http/rate-limit'
import type { IdentitySettings } from '../../shared/identity'
import { isValidUserId, USER_ID_HEADER } from '../../shared/identity'
import type { SessionStore } from './sessions'
import { type Credential, type SigningKey, TokenSigner } from './tokens'
import type { PasswordHashing, User } from './users'

export type AuthSettings = {
  identity: IdentitySettings
  /** Signs session cookies and API tokens; only the gateway has it. */
  sessionKey: SigningKey
  /** Keys that still verify (one being brought in, or retired) but never sign. */
  verifyKeys: SigningKey[]
  sessionTtlSeconds: number
  apiTokenTtlSeconds: number
  /** Mark the cookie Secure (and name it __Host-…): on when the site is served over HTTPS. */
  secureCookies: boolean
  hashing: PasswordHashing
  /** Sign-in and sign-up attempts, per user name and per client address. */
  attempts: RateLimit
}

/** Who an API request is from; `viaDevHeader` when only X-User-Id vouched for it. */
export type ApiCaller = { userId: string; viaDevHeader: boolean }

function cookieValue(request: Request, name: string): string | undefined {
  const header = request.headers.get('cookie')
  if (!header) return undefined
  for (const part of header.split(';')) {
    const index = part.indexOf('=')
    if (index > 0 && part.slice(0, index).trim() === name) return part.slice(index + 1).trim()
  }
  return undefined
}

/** How long a browser is remembered as one where a user name signed in (gateway/auth/attempts.ts). */
export const DEVICE_COOKIE_TTL_SECONDS = 90 * 24 * 3600

export class Authenticator {
  readonly tokens: TokenSigner
  readonly cookieName: string
  readonly deviceCookieName: string

  constructor(
    readonly settings: AuthSettings,
    /** Where page sessions live (signing out ends them); none: every genuine cookie is a session (unit tests of tokens). */
    readonly sessions?: SessionStore,
  ) {
    this.tokens = new TokenSigner(settings.sessionKey, settings.verifyKeys)
    this.cookieName = settings.secureCookies ? '__Host-gozon_session' : 'gozon_session'
    this.deviceCookieName = settings.secureCookies ? '__Host-gozon_device' : 'gozon_device'
  }

  /** Authorization: Bearer <token from POST /api/auth/token>; X-User-Id only in dev mode. */
  apiCaller(request: Request): ApiCaller | 'expired' | undefined {
    if (request.headers.has('authorization')) {
      const token = bearerToken(request)
      const credential = token ? this.tokens.verify(token, 'api') : undefined
      if (credential === undefined || credential === 'expired') return credential
      return { userId: credential.userId, viaDevHeader: false }
    }
    if (this.settings.identity.devTrustUserIdHeader) {
      const userId = request.headers.get(USER_ID_HEADER)
      if (isValidUserId(userId)) return { userId, viaDevHeader: true }
    }
    return undefined
  }

  /** The cookie's credential if it is genuine and unexpired, whether or not its session was ended. */
  sessionCookie(request: Request): Credential | undefined {
    const token = cookieValue(request, this.cookieName)
    const credential = token ? this.tokens.verify(token, 'session') : undefined
    return credential === 'expired' ? undefined : credential
  }

  /** The signed-in shopper of a page request or page socket: a genuine cookie of a session that was not ended. */
  async session(request: Request): Promise<Credential | undefined> {
    const credential = this.sessionCookie(request)
    if (!credential) return undefined
    if (this.sessions && !(await this.sessions.isLive(credential.sessionId))) return undefined
    return credential
  }

  issueApiToken(user: User) {
    return this.tokens.issue('api', user, this.settings.apiTokenTtlSeconds)
  }

  /**
   * Starts a page session (its row first, so that every gateway knows it) and
   * returns its cookie, and the device cookie that remembers this browser as
   * one where the user signed in (it proves nothing else and outlives sign-out).
   */
  async signIn(user: User): Promise<[string, string][]> {
    const { token, sessionId, expiresAt } = this.tokens.issue('session', user, this.settings.sessionTtlSeconds)
    await this.sessions?.create(sessionId, user.id, expiresAt)
    const device = this.tokens.issue('device', user, DEVICE_COOKIE_TTL_SECONDS).token
    return [
      ['set-cookie', this.cookie(token, this.settings.sessionTtlSeconds)],
      ['set-cookie', this.cookie(device, DEVICE_COOKIE_TTL_SECONDS, this.deviceCookieName)],
    ]
  }

  /** True when the request holds a genuine, unexpired device cookie of this user name. */
  knownDevice(request: Request, username: string): boolean {
    const token = cookieValue(request, this.deviceCookieName)
    const credential = token ? this.tokens.verify(token, 'device') : undefined
    return typeof credential === 'object' && credential.username.toLowerCase() === username.toLowerCase()
  }

  /** Ends the request's session, if it has one, and returns the cookie that clears it in the browser. */
  async signOut(request: Request): Promise<string> {
    const credential = this.sessionCookie(request)
    if (credential) await this.sessions?.end(credential.sessionId)
    return this.cookie('', 0)
  }

  /** Ends every page session of the request's user, this one included; the cookie that clears it. */
  async signOutEverywhere(request: Request): Promise<string> {
    const credential = await this.session(request)
    if (credential) await this.sessions?.endAll(credential.userId)
    return this.cookie('', 0)
  }

  private cookie(value: string, maxAge: number, name = this.cookieName): string {
    return `${name}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${this.settings.secureCookies ? '; Secure' : ''}`
  }
}

// Who the browser is acting as. For now a cookie holding the user id the
// shopper signed in with; this file is the only place that knows it, so the
// move to real authentication changes nothing else.
import { isValidUserId } from '../shared/identity'

export const SESSION_COOKIE = 'gozon_user'

export function sessionUser(request: Request): string | undefined {
  const header = request.headers.get('cookie')
  if (!header) return undefined
  for (const part of header.split(';')) {
    const [name, ...rest] = part.trim().split('=')
    if (name !== SESSION_COOKIE) continue
    let value: string
    try {
      value = decodeURIComponent(rest.join('='))
    } catch {
      return undefined
    }
    return isValidUserId(value) ? value : undefined
  }
  return undefined
}

export function signInCookie(userId: string): string {
  return `${SESSION_COOKIE}=${encodeURIComponent(userId)}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${30 * 24 * 3600}`
}

export function signOutCookie(): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0`
}

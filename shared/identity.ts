// Who is calling. For now the caller names itself in `X-User-Id`; this module
// is the only place that knows how identity arrives, so replacing it with real
// authentication touches nothing else.
import { Elysia } from 'elysia'
import { AppError } from './errors'

export const USER_ID_HEADER = 'x-user-id'
export const USER_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/

export function isValidUserId(value: unknown): value is string {
  return typeof value === 'string' && USER_ID_PATTERN.test(value)
}

/** Resolves `userId` for every route of the controller that uses it, or answers 401. */
export const identity = new Elysia({ name: 'gozon.identity' }).resolve({ as: 'scoped' }, ({ request }) => {
  const userId = request.headers.get(USER_ID_HEADER)
  if (!isValidUserId(userId)) throw new AppError('unauthorized')
  return { userId }
})

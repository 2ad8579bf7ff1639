// Limits on sign-in and sign-up attempts, one set per gateway instance and
// shared by the identity API and the sign-in pages, so that neither door
// gives a password guesser a second allowance.
import { type RateLimit, RateLimiter } from '../../shared/http/rate-limit'

export type AttemptLimiters = {
  /** Per user name: slows password guessing against one account. */
  perUser: RateLimiter
  /** Per client address: slows guessing across accounts and mass sign-ups, more generously. */
  perAddress: RateLimiter
}

export function attemptLimiters({ burst, perSecond }: RateLimit): AttemptLimiters {
  return {
    perUser: new RateLimiter({ burst, perSecond }),
    perAddress: new RateLimiter({ burst: burst * 10, perSecond: perSecond * 10 }),
  }
}

type Server = { requestIP(request: Request): { address: string } | null } | null

/** The address of the connecting peer, for per-address limits. */
export function clientAddress(server: Server, request: Request): string {
  return server?.requestIP(request)?.address ?? 'unknown'
}

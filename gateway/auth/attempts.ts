// Limits on sign-in and sign-up attempts, shared by the identity API and the
// sign-in pages, so that neither door gives a password guesser a second
// allowance, and kept in the gateway's database, so that neither does a
// second gateway instance (shared/http/rate-limit.ts).
import type { Sql } from 'postgres'
import type { ClientAddress } from '../../shared/http/client-address'
import { type RateLimit, RateLimiter } from '../../shared/http/rate-limit'

export type AttemptLimiters = {
  /** Per user name: slows password guessing against one account. */
  perUser: RateLimiter
  /** Per client address: slows guessing across accounts and mass sign-ups, more generously. */
  perAddress: RateLimiter
  /** The caller's address, for the per-address limit (behind a trusted proxy, the one it forwarded). */
  clientAddress: ClientAddress
}

export function attemptLimiters(sql: Sql, { burst, perSecond }: RateLimit, clientAddress: ClientAddress): AttemptLimiters {
  return {
    perUser: new RateLimiter(sql, 'sign-in.user', { burst, perSecond }),
    perAddress: new RateLimiter(sql, 'sign-in.address', { burst: burst * 10, perSecond: perSecond * 10 }),
    clientAddress,
  }
}

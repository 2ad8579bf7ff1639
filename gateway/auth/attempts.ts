// Limits on sign-in and sign-up attempts, shared by the identity API and the
// sign-in pages, so that neither door gives a password guesser a second
// allowance, and kept in the gateway's database, so that neither does a
// second gateway instance (shared/http/rate-limit.ts).
//
// A sign-in attempt takes from three buckets, in this order, and stops at
// the first that is empty (so a refused attempt drains nothing further):
//   (user name, client address)  the configured limit: one guesser against one account
//   client address               10x: one guesser across many accounts
//   user name, from anywhere     100x: a guess spread over many addresses
// Someone typing wrong passwords for bob empties only the first bucket, of
// their own address: bob, from his, signs in. Sign-ups take from the address
// bucket alone (a new name has no owner to protect yet).
import type { Sql } from 'postgres'
import type { ClientAddress } from '../../shared/http/client-address'
import { type RateLimit, RateLimiter } from '../../shared/http/rate-limit'

export type AttemptLimiters = {
  /** Takes a sign-in attempt; the seconds to wait when one of its buckets is empty. */
  signIn(address: string, username: string): Promise<number | undefined>
  /** Takes a sign-up attempt; the seconds to wait when the address's bucket is empty. */
  signUp(address: string): Promise<number | undefined>
  /** The caller's address (behind a trusted proxy, the one it forwarded: shared/http/client-address.ts). */
  clientAddress: ClientAddress
}

/** How much looser the per-address and the per-name buckets are than the (name, address) one. */
export const ADDRESS_FACTOR = 10
export const NAME_FACTOR = 100

export function attemptLimiters(sql: Sql, { burst, perSecond }: RateLimit, clientAddress: ClientAddress): AttemptLimiters {
  const scaled = (factor: number) => ({ burst: burst * factor, perSecond: perSecond * factor })
  const perPair = new RateLimiter(sql, 'sign-in.user-address', { burst, perSecond })
  const perAddress = new RateLimiter(sql, 'sign-in.address', scaled(ADDRESS_FACTOR))
  const perName = new RateLimiter(sql, 'sign-in.user', scaled(NAME_FACTOR))
  return {
    // JSON keeps a name and an address apart whatever characters they hold.
    signIn: async (address, username) =>
      (await perPair.tryTake(JSON.stringify([username, address]))) ?? (await perAddress.tryTake(address)) ?? (await perName.tryTake(username)),
    signUp: (address) => perAddress.tryTake(address),
    clientAddress,
  }
}

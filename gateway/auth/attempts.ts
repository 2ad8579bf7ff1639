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
//
// An IPv6 address counts by its /64 (one host often has a whole /64 to pick
// fresh addresses from). A guesser with a hundred addresses can still empty
// bob's per-name bucket; bob then signs in all the same from a browser where
// he signed in before: its device cookie (gateway/auth/authenticator.ts)
// lets that browser skip the per-name bucket, though never the other two.
import type { Sql } from 'postgres'
import type { ClientAddress } from '../../shared/http/client-address'
import { addressGroup } from '../../shared/http/client-address'
import { type RateLimit, RateLimiter } from '../../shared/http/rate-limit'

export type AttemptLimiters = {
  /**
   * Takes a sign-in attempt; the seconds to wait when one of its buckets is
   * empty. `knownDevice`: the browser holds a device cookie of this user name.
   */
  signIn(address: string, username: string, options?: { knownDevice?: boolean }): Promise<number | undefined>
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
    signIn: async (address, username, options = {}) => {
      const group = addressGroup(address)
      return (
        (await perPair.tryTake(JSON.stringify([username, group]))) ??
        (await perAddress.tryTake(group)) ??
        (options.knownDevice ? undefined : await perName.tryTake(username))
      )
    },
    signUp: (address) => perAddress.tryTake(addressGroup(address)),
    clientAddress,
  }
}

// Rate limits on the routes that create things (orders, top-ups) and on
// sign-in attempts: a token bucket per key, kept in the enforcing service's
// own PostgreSQL (shared/db/rate-limit-table.ts), so that N instances of a
// service together allow the rate once, not N times. One statement per take:
// the row lock serialises the instances' takes on one key, and PostgreSQL's
// clock is the one clock they share. Over the limit: 429 with Retry-After.
//
// Why PostgreSQL and not JetStream key-value: a take is a read-modify-write,
// which in PostgreSQL is one atomic statement on a database the request uses
// anyway, while a KV bucket needs a get and a revision-checked put (two round
// trips, replicated and fsynced, retried under contention). `bun
// bench/rate-limit-stores.ts` measures both.
import { sql } from 'drizzle-orm'
import type { Executor } from '../db/client'
import { rateLimitBuckets } from '../db/rate-limit-table'
import { AppError } from '../errors'

export type RateLimit = { burst: number; perSecond: number }

/** About one take in this many also deletes the buckets that are full again. */
const CLEANUP_EVERY = 1000

export class RateLimiter {
  constructor(
    private readonly db: Executor,
    /** Prefix of this limit's keys, e.g. "orders.create". */
    private readonly name: string,
    private readonly limit: RateLimit,
  ) {}

  /** Takes one token for `key`, or throws 429 with the seconds until one is back in Retry-After. */
  async take(key: string, set: { headers: Record<string, string | number> }): Promise<void> {
    const waitSeconds = await this.tryTake(key)
    if (waitSeconds === undefined) return
    set.headers['retry-after'] = String(waitSeconds)
    throw new AppError('rate_limited')
  }

  /** Takes one token for `key`; when there is none, the whole seconds until one is back. */
  async tryTake(key: string): Promise<number | undefined> {
    const id = `${this.name}:${key}`
    const burst = sql`${this.limit.burst}::float8`
    const rate = sql`${this.limit.perSecond}::float8`
    const b = rateLimitBuckets
    // The bucket refilled since its last take, capped at the burst.
    const refilled = sql`least(${burst}, ${b.tokens} + greatest(0, extract(epoch from now() - ${b.updatedAt}))::float8 * ${rate})`
    if (Math.random() * CLEANUP_EVERY < 1) void this.db.delete(b).where(sql`${b.fullAt} < now()`).catch(() => {})
    // A refused take changes nothing (the WHERE of DO UPDATE) and returns no row.
    const taken = await this.db
      .insert(b)
      .values({ key: id, tokens: sql`${burst} - 1`, updatedAt: sql`now()`, fullAt: sql`now() + make_interval(secs => 1 / ${rate})` })
      .onConflictDoUpdate({
        target: b.key,
        set: {
          tokens: sql`${refilled} - 1`,
          updatedAt: sql`greatest(${b.updatedAt}, now())`,
          fullAt: sql`greatest(${b.updatedAt}, now()) + make_interval(secs => (${burst} - (${refilled} - 1)) / ${rate})`,
        },
        setWhere: sql`${refilled} >= 1`,
      })
      .returning({ tokens: b.tokens })
    if (taken.length > 0) return undefined
    const [left] = await this.db.select({ tokens: refilled }).from(b).where(sql`${b.key} = ${id}`)
    const tokens = Number(left?.tokens ?? 1)
    return Math.max(1, Math.ceil((1 - tokens) / this.limit.perSecond))
  }
}

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
import type { Sql } from 'postgres'
import { AppError } from '../errors'

export type RateLimit = { burst: number; perSecond: number }

/** About one take in this many also deletes the buckets that are full again. */
const CLEANUP_EVERY = 1000

// $1 key, $2 burst, $3 tokens per second. The bucket refilled since its last
// take, capped at the burst; a refused take changes nothing (the WHERE of DO
// UPDATE) and returns no row. One prepared statement, written out rather than
// built per request (the query builder cost more than the statement).
const REFILLED = 'least($2::float8, b.tokens + greatest(0, extract(epoch from now() - b.updated_at))::float8 * $3::float8)'
const TAKE = `insert into rate_limit_buckets as b (key, tokens, updated_at, full_at)
  values ($1, $2::float8 - 1, now(), now() + make_interval(secs => 1 / $3::float8))
  on conflict (key) do update set
    tokens = ${REFILLED} - 1,
    updated_at = greatest(b.updated_at, now()),
    full_at = greatest(b.updated_at, now()) + make_interval(secs => ($2::float8 - (${REFILLED} - 1)) / $3::float8)
  where ${REFILLED} >= 1
  returning 1`
const LEFT = `select ${REFILLED} as tokens from rate_limit_buckets as b where key = $1`
const CLEANUP = 'delete from rate_limit_buckets where full_at < now()'

export class RateLimiter {
  constructor(
    /** The enforcing service's own database (its postgres.js pool: `db.$client`). */
    private readonly sql: Sql,
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
    const { burst, perSecond } = this.limit
    if (Math.random() * CLEANUP_EVERY < 1) void this.sql.unsafe(CLEANUP).catch(() => {})
    const taken = await this.sql.unsafe(TAKE, [id, burst, perSecond], { prepare: true })
    if (taken.length > 0) return undefined
    const [left] = await this.sql.unsafe(LEFT, [id, burst, perSecond], { prepare: true })
    const tokens = Number(left?.tokens ?? 1)
    return Math.max(1, Math.ceil((1 - tokens) / perSecond))
  }
}

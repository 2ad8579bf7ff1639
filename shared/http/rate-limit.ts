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
import { type SQL, sql } from 'drizzle-orm'
import { PgDialect } from 'drizzle-orm/pg-core'
import type { Sql } from 'postgres'
import { AppError } from '../errors'

export type RateLimit = { burst: number; perSecond: number }

/** About one take in this many also deletes the buckets that are full again. */
const CLEANUP_EVERY = 1000

// The take, once: key, burst and tokens per second as SQL. The bucket refilled
// since its last take, capped at the burst; a refused take changes nothing
// (the WHERE of DO UPDATE) and returns no row.
function takeStatement(key: SQL, burst: SQL, perSecond: SQL): SQL {
  const refilled = sql`least(${burst}::float8, b.tokens + greatest(0, extract(epoch from now() - b.updated_at))::float8 * ${perSecond}::float8)`
  return sql`insert into rate_limit_buckets as b (key, tokens, updated_at, full_at)
  values (${key}, ${burst}::float8 - 1, now(), now() + make_interval(secs => 1 / ${perSecond}::float8))
  on conflict (key) do update set
    tokens = ${refilled} - 1,
    updated_at = greatest(b.updated_at, now()),
    full_at = greatest(b.updated_at, now()) + make_interval(secs => (${burst}::float8 - (${refilled} - 1)) / ${perSecond}::float8)
  where ${refilled} >= 1
  returning 1`
}

// The standalone take as one prepared statement with $1 key, $2 burst, $3
// tokens per second, written out once rather than built per request (the
// query builder cost more than the statement).
const POSITIONAL = [sql.raw('$1'), sql.raw('$2'), sql.raw('$3')] as const
const TAKE = new PgDialect().sqlToQuery(takeStatement(...POSITIONAL)).sql
const LEFT = `select least($2::float8, b.tokens + greatest(0, extract(epoch from now() - b.updated_at))::float8 * $3::float8) as tokens
  from rate_limit_buckets as b where key = $1`
const CLEANUP = 'delete from rate_limit_buckets where full_at < now()'

function tooMany(waitSeconds: number, set: { headers: Record<string, string | number> }): never {
  set.headers['retry-after'] = String(waitSeconds)
  throw new AppError('rate_limited')
}

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
    if (waitSeconds !== undefined) tooMany(waitSeconds, set)
  }

  /** Takes one token for `key`; when there is none, the whole seconds until one is back. */
  async tryTake(key: string): Promise<number | undefined> {
    const id = this.id(key)
    const { burst, perSecond } = this.limit
    this.maybeCleanUp()
    const taken = await this.sql.unsafe(TAKE, [id, burst, perSecond], { prepare: true })
    if (taken.length > 0) return undefined
    return this.waitSeconds(key)
  }

  /**
   * The take as a statement to embed in the caller's own (a CTE: `with taken
   * as (…)`), so that the take and the work are one round trip and one
   * commit; it returns one row when a token was taken. The work must then
   * depend on that row, and a refusal is answered with `refuse()`.
   */
  takeWithin(key: string): SQL {
    this.maybeCleanUp()
    const { burst, perSecond } = this.limit
    return takeStatement(sql`${this.id(key)}`, sql`${burst}`, sql`${perSecond}`)
  }

  /** After a take embedded with takeWithin() found no token: 429 with Retry-After. */
  async refuse(key: string, set: { headers: Record<string, string | number> }): Promise<never> {
    tooMany(await this.waitSeconds(key), set)
  }

  private id(key: string): string {
    return `${this.name}:${key}`
  }

  private maybeCleanUp(): void {
    if (Math.random() * CLEANUP_EVERY < 1) void this.sql.unsafe(CLEANUP).catch(() => {})
  }

  /** The whole seconds until `key`'s bucket has a token again (at least 1). */
  private async waitSeconds(key: string): Promise<number> {
    const { burst, perSecond } = this.limit
    const [left] = await this.sql.unsafe(LEFT, [this.id(key), burst, perSecond], { prepare: true })
    const tokens = Number(left?.tokens ?? 1)
    return Math.max(1, Math.ceil((1 - tokens) / perSecond))
  }
}

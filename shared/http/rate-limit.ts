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
// (the WHERE of DO UPDATE) and returns no row. `onlyIf` (another CTE's
// verdict) makes the take happen only when it holds.
const refilled = (burst: SQL, perSecond: SQL) =>
  sql`least(${burst}::float8, b.tokens + greatest(0, extract(epoch from now() - b.updated_at))::float8 * ${perSecond}::float8)`

function takeStatement(key: SQL, burst: SQL, perSecond: SQL, onlyIf: SQL = sql`true`): SQL {
  const left = refilled(burst, perSecond)
  return sql`insert into rate_limit_buckets as b (key, tokens, updated_at, full_at)
  select ${key}, ${burst}::float8 - 1, now(), now() + make_interval(secs => 1 / ${perSecond}::float8) where ${onlyIf}
  on conflict (key) do update set
    tokens = ${left} - 1,
    updated_at = greatest(b.updated_at, now()),
    full_at = greatest(b.updated_at, now()) + make_interval(secs => (${burst}::float8 - (${left} - 1)) / ${perSecond}::float8)
  where ${left} >= 1 and ${onlyIf}
  returning 1`
}

/** The tokens in the bucket as the statement found it (a scalar; 1 for a bucket not there yet). */
const tokensLeft = (key: SQL, burst: SQL, perSecond: SQL) =>
  sql`coalesce((select ${refilled(burst, perSecond)} from rate_limit_buckets as b where key = ${key}), 1)`

// The plain take as one prepared statement with $1 key, $2 burst, $3 tokens
// per second, rendered once rather than built per request (the query builder
// cost more than the statement); it also says how many tokens were left.
const dialect = new PgDialect()
const POSITIONAL = [sql.raw('$1'), sql.raw('$2'), sql.raw('$3')] as const
const TAKE = dialect.sqlToQuery(
  sql`with taken as (${takeStatement(...POSITIONAL)}) select exists (select 1 from taken) as taken, ${tokensLeft(...POSITIONAL)} as tokens`,
).sql
const CLEANUP = 'delete from rate_limit_buckets where full_at < now()'

type Headers = { headers: Record<string, string | number> }

/** 429 rate_limited, with Retry-After: `waitSeconds`. */
export function tooMany(waitSeconds: number, set: Headers): never {
  set.headers['retry-after'] = String(waitSeconds)
  throw new AppError('rate_limited')
}

/** A take embedded in the caller's statement (see takeWithin). */
export type EmbeddedTake = {
  /** For a CTE: `with taken as (<statement>)`; returns one row when a token was taken. */
  statement: SQL
  /** A scalar for the statement's final select: the tokens the bucket had, for refuseWith(). */
  tokensLeft: SQL
}

export class RateLimiter {
  constructor(
    /** The enforcing service's own database (its postgres.js pool: `db.$client`). */
    private readonly sql: Sql,
    /** Prefix of this limit's keys, e.g. "orders.create". */
    private readonly name: string,
    private readonly limit: RateLimit,
  ) {}

  /**
   * Takes one token for `key`, or throws 429 with the seconds until one is
   * back in Retry-After. With `claim` (a statement that returns one row when
   * it succeeds, like a proof nonce's claim: shared/http/proof-nonces.ts),
   * the claim runs in the same statement, commits whatever happens next, and
   * the take happens only if it succeeded; a failed claim is a 401.
   */
  async take(key: string, set: Headers, claim?: SQL): Promise<void> {
    if (!claim) {
      const waitSeconds = await this.tryTake(key)
      if (waitSeconds !== undefined) tooMany(waitSeconds, set)
      return
    }
    this.maybeCleanUp()
    const [id, b, r] = this.parameters(key)
    const query = dialect.sqlToQuery(sql`with claimed as (${claim}), taken as (${takeStatement(id, b, r, sql`exists (select 1 from claimed)`)})
      select exists (select 1 from claimed) as claimed, exists (select 1 from taken) as taken, ${tokensLeft(id, b, r)} as tokens`)
    const [row] = await this.sql.unsafe(query.sql, query.params as never[])
    if (!row?.claimed) throw new AppError('identity_proof_required')
    if (!row.taken) this.refuseWith(Number(row.tokens), set)
  }

  /** Takes one token for `key`; when there is none, the whole seconds until one is back. */
  async tryTake(key: string): Promise<number | undefined> {
    this.maybeCleanUp()
    const { burst, perSecond } = this.limit
    const [row] = await this.sql.unsafe(TAKE, [this.id(key), burst, perSecond], { prepare: true })
    return row?.taken ? undefined : this.waitSeconds(Number(row?.tokens ?? 0))
  }

  /**
   * The take as a statement to embed in the caller's own, so that the take
   * and the work are one round trip and one commit; `onlyIf` (another CTE's
   * verdict) makes it count only when that holds. The work must depend on
   * the take's row; a refusal is answered with refuseWith(tokensLeft).
   */
  takeWithin(key: string, onlyIf?: SQL): EmbeddedTake {
    this.maybeCleanUp()
    const [id, b, r] = this.parameters(key)
    return { statement: takeStatement(id, b, r, onlyIf), tokensLeft: tokensLeft(id, b, r) }
  }

  /** A refused take: 429, with the whole seconds until the bucket, which had `tokens`, has one again. */
  refuseWith(tokens: number, set: Headers): never {
    tooMany(this.waitSeconds(tokens), set)
  }

  private id(key: string): string {
    return `${this.name}:${key}`
  }

  /** The bucket's key, burst and rate as parameters of a statement built around the take. */
  private parameters(key: string): [SQL, SQL, SQL] {
    return [sql`${this.id(key)}`, sql`${this.limit.burst}`, sql`${this.limit.perSecond}`]
  }

  private maybeCleanUp(): void {
    if (Math.random() * CLEANUP_EVERY < 1) void this.sql.unsafe(CLEANUP).catch(() => {})
  }

  /** The whole seconds until a bucket with `tokens` has one again (at least 1). */
  private waitSeconds(tokens: number): number {
    return Math.max(1, Math.ceil((1 - tokens) / this.limit.perSecond))
  }
}

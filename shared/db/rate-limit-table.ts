// Token buckets of the rate limits (shared/http/rate-limit.ts), one row per
// limited key, in the database of the service that enforces the limit, so
// every instance of that service draws from the same buckets. Each service
// that limits re-exports this table from its schema.ts.
//
// The table is UNLOGGED (migration "rate_limit_buckets_unlogged"): a take
// writes no WAL and its commit waits for no fsync. After a PostgreSQL crash
// the table is empty, which only means every bucket starts full again.
import { sql } from 'drizzle-orm'
import { check, doublePrecision, index, pgTable, text, timestamp } from 'drizzle-orm/pg-core'

export const rateLimitBuckets = pgTable(
  'rate_limit_buckets',
  {
    /** What is limited and for whom, e.g. "orders.create:<user id>" or "sign-in.address:127.0.0.1". */
    key: text('key').primaryKey(),
    /** Tokens left after the last take (fractional: the bucket refills continuously). */
    tokens: doublePrecision('tokens').notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
    /** When the bucket is full again: from then on the row says nothing and may be deleted. */
    fullAt: timestamp('full_at', { withTimezone: true }).notNull(),
  },
  (t) => [check('rate_limit_tokens_not_negative', sql`${t.tokens} >= 0`), index('rate_limit_buckets_full_at_idx').on(t.fullAt)],
)

// Idempotency keys of HTTP requests (Idempotency-Key header), per user. Each
// service that accepts them re-exports this table from its schema.ts.
import { index, integer, jsonb, pgTable, primaryKey, text, timestamp, uuid, varchar } from 'drizzle-orm/pg-core'

export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    userId: varchar('user_id', { length: 64 }).notNull(),
    key: varchar('key', { length: 255 }).notNull(),
    /** What was asked: method, route and a hash of the body. */
    fingerprint: text('fingerprint').notNull(),
    /** Null while the first request is still running. */
    status: integer('status'),
    response: jsonb('response'),
    /**
     * The fence: each claim (and each takeover) gets a new token, and the work
     * may record its response only while the token is still the one it got.
     */
    claimToken: uuid('claim_token').notNull().defaultRandom(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.key] }), index('idempotency_keys_created_idx').on(t.createdAt)],
)

// The orders service's tables (its own database; no other service reads them).
import { sql } from 'drizzle-orm'
import { bigint, check, index, integer, pgTable, text, timestamp, uuid, varchar } from 'drizzle-orm/pg-core'
import { idempotencyKeys } from '../shared/db/idempotency-table'
import { deadLetters, inbox, outbox } from '../shared/db/messaging-tables'
import { proofNonces } from '../shared/db/proof-nonce-table'
import { rateLimitBuckets } from '../shared/db/rate-limit-table'

export const ORDER_STATUSES = ['NEW', 'FINISHED', 'CANCELLED'] as const
export type OrderStatus = (typeof ORDER_STATUSES)[number]

export const orders = pgTable(
  'orders',
  {
    id: uuid('id').primaryKey(),
    userId: varchar('user_id', { length: 64 }).notNull(),
    // Minor units; the CHECK caps it far below 2^53, so mode 'number' is exact.
    amount: bigint('amount', { mode: 'number' }).notNull(),
    description: varchar('description', { length: 200 }),
    status: text('status', { enum: ORDER_STATUSES }).notNull().default('NEW'),
    reason: text('reason'),
    // Millisecond precision, like a JavaScript Date, so that a page cursor
    // made from createdAt compares exactly.
    createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
    /** When payment was last asked for. */
    paymentRequestedAt: timestamp('payment_requested_at', { withTimezone: true }).notNull().defaultNow(),
    /** How many times payment was asked for (the first request included); the sweeper stops at its cap. */
    paymentAsks: integer('payment_asks').notNull().default(1),
    /** When the sweeper asks again if the order is still NEW; null once it gave up (orders/sweeper.ts). */
    nextAskAt: timestamp('next_ask_at', { withTimezone: true }),
    /** Set when the sweeper stopped asking: the order is reported, not retried forever. */
    paymentGaveUpAt: timestamp('payment_gave_up_at', { withTimezone: true }),
  },
  (t) => [
    check('orders_amount_range', sql`${t.amount} > 0 and ${t.amount} <= 1000000000000`),
    check('orders_status_known', sql`${t.status} in ('NEW', 'FINISHED', 'CANCELLED')`),
    // A reason exactly when cancelled.
    check('orders_reason_iff_cancelled', sql`(${t.status} = 'CANCELLED') = (${t.reason} is not null)`),
    index('orders_user_created_idx').on(t.userId, t.createdAt.desc(), t.id.desc()),
    index('orders_new_idx').on(t.createdAt).where(sql`${t.status} = 'NEW'`),
    index('orders_next_ask_idx').on(t.nextAskAt).where(sql`${t.status} = 'NEW'`),
    index('orders_gave_up_idx').on(t.paymentGaveUpAt).where(sql`${t.status} = 'NEW' and ${t.paymentGaveUpAt} is not null`),
  ],
)

export type OrderRow = typeof orders.$inferSelect

export const schema = { orders, outbox, inbox, deadLetters, idempotencyKeys, rateLimitBuckets, proofNonces }
export { deadLetters, idempotencyKeys, inbox, outbox, proofNonces, rateLimitBuckets }

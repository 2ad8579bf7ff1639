// The payments service's tables (its own database; no other service reads them).
import { sql } from 'drizzle-orm'
import { bigint, check, foreignKey, index, pgTable, text, timestamp, unique, uniqueIndex, uuid, varchar } from 'drizzle-orm/pg-core'
import { idempotencyKeys } from '../shared/db/idempotency-table'
import { deadLetters, inbox, outbox } from '../shared/db/messaging-tables'
import { proofNonces } from '../shared/db/proof-nonce-table'
import { rateLimitBuckets } from '../shared/db/rate-limit-table'

/** One account per user. The balance can never go below zero nor above 10^15. */
export const accounts = pgTable(
  'accounts',
  {
    userId: varchar('user_id', { length: 64 }).primaryKey(),
    balance: bigint('balance', { mode: 'number' }).notNull().default(0),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [check('accounts_balance_range', sql`${t.balance} >= 0 and ${t.balance} <= 1000000000000000`)],
)

export const PAYMENT_OUTCOMES = ['succeeded', 'failed'] as const

/**
 * The outcome of each order's payment, decided once. The primary key on
 * order_id is what makes a debit happen at most once per order, whatever
 * message ids the requests arrive under.
 */
export const payments = pgTable(
  'payments',
  {
    orderId: uuid('order_id').primaryKey(),
    userId: varchar('user_id', { length: 64 }).notNull(),
    amount: bigint('amount', { mode: 'number' }).notNull(),
    outcome: text('outcome', { enum: PAYMENT_OUTCOMES }).notNull(),
    reason: text('reason'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    /**
     * The outbox row that last carried this decision: a repeated ask is answered
     * with a new row only once that one has been published (charge_order).
     */
    resultMessageId: text('result_message_id'),
  },
  (t) => [
    // The target of the ledger's foreign key (order_id alone is already unique).
    unique('payments_debit_target').on(t.orderId, t.userId, t.amount, t.outcome),
    check('payments_amount_range', sql`${t.amount} > 0 and ${t.amount} <= 1000000000000`),
    check('payments_outcome_known', sql`${t.outcome} in ('succeeded', 'failed')`),
    check('payments_reason_iff_failed', sql`(${t.outcome} = 'failed') = (${t.reason} is not null)`),
  ],
)

export const LEDGER_KINDS = ['top_up', 'payment'] as const

/** The statement: every change of a balance, with the balance after it. Append-only. */
export const ledgerEntries = pgTable(
  'ledger_entries',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    userId: varchar('user_id', { length: 64 })
      .notNull()
      .references(() => accounts.userId),
    kind: text('kind', { enum: LEDGER_KINDS }).notNull(),
    amount: bigint('amount', { mode: 'number' }).notNull(),
    orderId: uuid('order_id'),
    balanceAfter: bigint('balance_after', { mode: 'number' }).notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    /** 'succeeded' on a payment entry (null on a top-up): lets the foreign key below demand a succeeded payment. */
    paymentOutcome: text('payment_outcome').generatedAlwaysAs(sql`case when kind = 'payment' then 'succeeded' end`),
  },
  (t) => [
    // Backstops in the schema, whatever the code does: at most one debit per
    // order, and a debit only for a succeeded payment of that order, for its
    // user, of exactly its amount.
    uniqueIndex('ledger_one_debit_per_order').on(t.orderId).where(sql`${t.kind} = 'payment'`),
    foreignKey({
      name: 'ledger_debit_has_payment',
      columns: [t.orderId, t.userId, t.amount, t.paymentOutcome],
      foreignColumns: [payments.orderId, payments.userId, payments.amount, payments.outcome],
    }),
    check('ledger_amount_range', sql`${t.amount} > 0 and ${t.amount} <= 1000000000000`),
    check('ledger_balance_after_range', sql`${t.balanceAfter} >= 0 and ${t.balanceAfter} <= 1000000000000000`),
    check('ledger_kind_known', sql`${t.kind} in ('top_up', 'payment')`),
    check('ledger_order_iff_payment', sql`(${t.kind} = 'payment') = (${t.orderId} is not null)`),
    index('ledger_user_id_idx').on(t.userId, t.id.desc()),
  ],
)

export const schema = { accounts, ledgerEntries, payments, outbox, inbox, deadLetters, idempotencyKeys, rateLimitBuckets, proofNonces }
export { deadLetters, idempotencyKeys, inbox, outbox, proofNonces, rateLimitBuckets }

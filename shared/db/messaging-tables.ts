// The outbox, inbox and dead-letter tables. Every service that publishes or
// consumes re-exports them from its own schema.ts, so drizzle-kit creates them
// in that service's own database; the relay and consumer in ../messaging use them.
import { sql } from 'drizzle-orm'
import { bigint, index, integer, jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core'

/** Messages written in the same transaction as the state change they announce. */
export const outbox = pgTable(
  'outbox',
  {
    /** Also the message's Nats-Msg-Id: one id per message, never reused. */
    id: text('id').primaryKey(),
    subject: text('subject').notNull(),
    payload: jsonb('payload').notNull(),
    /** Travels as a NATS header so one order's path can be followed in the logs. */
    requestId: text('request_id'),
    /** The W3C traceparent of the span that wrote the row (shared/tracing.ts); the relay's publish continues it. Null when tracing is off. */
    traceContext: text('trace_context'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    publishedAt: timestamp('published_at', { withTimezone: true }),
    /**
     * The sweeping relay's lease: a row claimed for publishing is left alone by
     * other relays until then, so no transaction stays open across the publish.
     */
    claimedUntil: timestamp('claimed_until', { withTimezone: true }),
  },
  (t) => [
    index('outbox_unpublished_idx').on(t.createdAt).where(sql`${t.publishedAt} is null`),
    index('outbox_published_idx').on(t.publishedAt).where(sql`${t.publishedAt} is not null`),
  ],
)

/** Message ids already handled: inserting a duplicate id is how a redelivery is recognised. */
export const inbox = pgTable(
  'inbox',
  {
    messageId: text('message_id').primaryKey(),
    subject: text('subject').notNull(),
    receivedAt: timestamp('received_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('inbox_received_idx').on(t.receivedAt)],
)

/** Messages that can never be handled, kept with the reason instead of being retried forever. */
export const deadLetters = pgTable('dead_letters', {
  id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  messageId: text('message_id'),
  subject: text('subject').notNull(),
  streamSequence: bigint('stream_sequence', { mode: 'number' }),
  deliveries: integer('deliveries').notNull(),
  payload: text('payload').notNull(),
  reason: text('reason').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
})

export const messagingTables = { outbox, inbox, deadLetters }

// Writing to the outbox: the only way a service sends a JetStream message.
// The row is written by the same statement or transaction as the state change
// it announces, so the message exists if and only if that change committed.
// After the commit, the writer wakes its relay (ServiceDeps.outboxWritten).
import { type SQL, sql } from 'drizzle-orm'
import { outbox } from '../db/messaging-tables'
import type { MessageOf, Subject } from './contracts'

export type OutgoingMessage<S extends Subject> = {
  /** Becomes the Nats-Msg-Id: one id per message, never reused (see messageIds). */
  id: string
  subject: S
  payload: MessageOf<S>
  requestId?: string | null
  /** The traceparent of the span that wrote it, when tracing is on (shared/tracing.ts). */
  traceContext?: string | null
}

/**
 * `insert into outbox …` for one message, to embed in a statement (a CTE) that
 * also writes the state change; with `onlyIf`, the row is written only when
 * that condition holds (`exists (select 1 from <the change's CTE>)`).
 */
export function insertOutboxRow<S extends Subject>(message: OutgoingMessage<S>, onlyIf?: SQL): SQL {
  const row = sql`${message.id}, ${message.subject}, ${JSON.stringify(message.payload)}::jsonb, ${message.requestId ?? null}, ${message.traceContext ?? null}`
  return sql`insert into ${outbox} (id, subject, payload, request_id, trace_context)
      ${onlyIf ? sql`select ${row} where ${onlyIf}` : sql`values (${row})`}`
}

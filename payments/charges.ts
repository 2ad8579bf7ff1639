// Charging an order: the exactly-once debit, as one SQL statement.
//
// Runs inside the consumer's transaction, after the inbox has accepted the
// message id. Three guards make the debit happen once per order:
//   1. the inbox: the same message id is handled once;
//   2. the payments row, keyed by order id: an order already decided (under
//      any message id) is not decided again, and its outcome is final, so a
//      retry after a top-up does not charge an order that failed;
//   3. the conditional UPDATE: the balance is debited only if it covers the
//      amount, in one statement, so it can never go below zero. Under
//      concurrency PostgreSQL re-checks `balance >= amount` on the locked row.
// Two concurrent requests for the same order under different message ids both
// pass guard 2, but only one can insert the payments row; the other's
// statement fails on the primary key, its transaction rolls back (debit
// included) and the message is retried, when guard 2 stops it.
//
// The statements live in the charge_order() function (drizzle/payments/
// 0002_charge_order_function.sql): PostgreSQL plans them once per connection
// instead of on every message. This module shapes its inputs by the contract.
import { sql } from 'drizzle-orm'
import { arrayParam, type Executor, runPrepared } from '../shared/db/client'
import { type FailureReason, type MessageOf, messageIds, type PaymentRequested, SUBJECTS } from '../shared/messaging/contracts'
import type { OutgoingMessage } from '../shared/messaging/outbox'

export type ChargeResult = { outcome: 'already_decided' } | { outcome: 'succeeded'; balanceAfter: number } | { outcome: 'failed'; reason: FailureReason }

type Decision = 'already_decided' | 'succeeded' | FailureReason

/** What charge_order needs for one request: the request and its three possible result messages. */
function chargeArguments(request: PaymentRequested, requestId: string | undefined) {
  const { orderId, userId, amount } = request
  const failed = (reason: FailureReason): MessageOf<typeof SUBJECTS.paymentFailed> => ({ orderId, userId, amount, reason })
  const succeeded: MessageOf<typeof SUBJECTS.paymentSucceeded> = { orderId, userId, amount }
  return {
    orderId,
    userId,
    amount,
    askedAt: request.askedAt ?? null,
    resultMessageId: messageIds.paymentResult(orderId),
    requestId: requestId ?? null,
    succeededSubject: SUBJECTS.paymentSucceeded,
    succeededPayload: succeeded,
    failedSubject: SUBJECTS.paymentFailed,
    insufficientFundsPayload: failed('insufficient_funds'),
    accountNotFoundPayload: failed('account_not_found'),
  }
}

/**
 * With tracing on, the result rows charge_orders wrote carry the trace of the
 * delivery that asked (shared/tracing.ts), in the same transaction; a row it
 * did not write (a decided order) is not there to update. Nothing when off.
 */
async function keepTraceContexts(tx: Executor, rows: { id: string; traceContext?: string }[]): Promise<void> {
  const traced = rows.filter((r): r is { id: string; traceContext: string } => r.traceContext !== undefined)
  if (traced.length === 0) return
  await runPrepared(
    tx,
    'payments.keep-trace-contexts',
    sql`
    update outbox set trace_context = t.trace_context
    from unnest(${arrayParam(
      traced.map((r) => r.id),
      'text',
    )}, ${arrayParam(
      traced.map((r) => r.traceContext),
      'text',
    )}) as t(id, trace_context)
    where outbox.id = t.id and outbox.published_at is null`,
  )
}

export type ResultMessage = OutgoingMessage<typeof SUBJECTS.paymentSucceeded> | OutgoingMessage<typeof SUBJECTS.paymentFailed>

/**
 * Charges a batch of orders with one call (one round trip), in the order
 * given. Returns each result, with the result message it wrote to the outbox
 * (none when the order was already decided).
 */
export async function chargeOrders(
  tx: Executor,
  requests: { request: PaymentRequested; requestId?: string; traceContext?: string }[],
): Promise<{ result: ChargeResult; message?: ResultMessage }[]> {
  const input = requests.map((r) => chargeArguments(r.request, r.requestId))
  const rows = await runPrepared<{ order_id: string; decision: Decision; balance_after: string | null }>(
    tx,
    'payments.charge',
    sql`select order_id, decision, balance_after::text from charge_orders(${JSON.stringify(input)}::jsonb)`,
  )
  await keepTraceContexts(
    tx,
    requests.map((r, i) => ({ id: input[i]!.resultMessageId, traceContext: r.traceContext })),
  )
  return rows.map(({ decision, balance_after }, i) => {
    const args = input[i]!
    const base = { id: args.resultMessageId, requestId: args.requestId, traceContext: requests[i]!.traceContext }
    if (decision === 'already_decided') return { result: { outcome: 'already_decided' } }
    if (decision === 'succeeded') {
      return {
        result: { outcome: 'succeeded', balanceAfter: Number(balance_after) },
        message: { ...base, subject: args.succeededSubject, payload: args.succeededPayload },
      }
    }
    const payload = decision === 'insufficient_funds' ? args.insufficientFundsPayload : args.accountNotFoundPayload
    return { result: { outcome: 'failed', reason: decision }, message: { ...base, subject: args.failedSubject, payload } }
  })
}

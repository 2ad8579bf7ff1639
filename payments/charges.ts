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
// The decision, the debit, the payment row, the ledger row and the result
// message are data-modifying CTEs of one statement: one round trip to the
// database however the decision goes.
import { sql } from 'drizzle-orm'
import type { Executor } from '../shared/db/client'
import {
  type FailureReason,
  messageIds,
  type MessageOf,
  type PaymentRequested,
  SUBJECTS,
} from '../shared/messaging/contracts'
import { accounts, ledgerEntries, outbox, payments } from './schema'

export type ChargeResult =
  | { outcome: 'already_decided' }
  | { outcome: 'succeeded'; balanceAfter: number }
  | { outcome: 'failed'; reason: FailureReason }

type Decision = 'already_decided' | 'succeeded' | FailureReason

export async function chargeOrder(tx: Executor, request: PaymentRequested, requestId?: string): Promise<ChargeResult> {
  const { orderId, userId, amount } = request
  // The three possible result messages, shaped by the contract; SQL picks one.
  const succeeded: MessageOf<typeof SUBJECTS.paymentSucceeded> = { orderId, userId, amount }
  const failed = (reason: FailureReason): MessageOf<typeof SUBJECTS.paymentFailed> => ({ orderId, userId, amount, reason })

  const rows = await tx.execute<{ decision: Decision; balance_after: string | null }>(sql`
    with decided as (
      select 1 from ${payments} where order_id = ${orderId}
    ),
    debit as (
      update ${accounts} set balance = balance - ${amount}
      where user_id = ${userId} and balance >= ${amount} and not exists (select 1 from decided)
      returning balance
    ),
    decision as (
      select case
        when exists (select 1 from decided) then 'already_decided'
        when exists (select 1 from debit) then 'succeeded'
        when exists (select 1 from ${accounts} where user_id = ${userId}) then 'insufficient_funds'
        else 'account_not_found'
      end as decision
    ),
    payment as (
      insert into ${payments} (order_id, user_id, amount, outcome, reason)
      select ${orderId}, ${userId}, ${amount},
             case when decision = 'succeeded' then 'succeeded' else 'failed' end,
             case when decision = 'succeeded' then null else decision end
      from decision where decision <> 'already_decided'
    ),
    ledger as (
      insert into ${ledgerEntries} (user_id, kind, amount, order_id, balance_after)
      select ${userId}, 'payment', ${amount}, ${orderId}, balance from debit
    ),
    result_message as (
      insert into ${outbox} (id, subject, payload, request_id)
      select ${messageIds.paymentResult(orderId)},
             case when decision = 'succeeded' then ${SUBJECTS.paymentSucceeded} else ${SUBJECTS.paymentFailed} end,
             case decision
               when 'succeeded' then ${JSON.stringify(succeeded)}::jsonb
               when 'insufficient_funds' then ${JSON.stringify(failed('insufficient_funds'))}::jsonb
               else ${JSON.stringify(failed('account_not_found'))}::jsonb
             end,
             ${requestId ?? null}
      from decision where decision <> 'already_decided'
    )
    select decision, (select balance from debit)::text as balance_after from decision`)

  const { decision, balance_after } = rows[0]!
  if (decision === 'already_decided') return { outcome: 'already_decided' }
  if (decision === 'succeeded') return { outcome: 'succeeded', balanceAfter: Number(balance_after) }
  return { outcome: 'failed', reason: decision }
}

// Charging an order: the exactly-once debit.
//
// Runs inside the consumer's transaction, after the inbox has accepted the
// message id. Three guards make the debit happen once per order:
//   1. the inbox: the same message id is handled once;
//   2. the payments row, keyed by order id: an order already decided (under
//      any message id) is not decided again, and its outcome is final, so a
//      retry after a top-up does not charge an order that failed;
//   3. the conditional UPDATE: the balance is debited only if it covers the
//      amount, in one statement, so it can never go below zero.
// Two concurrent requests for the same order under different message ids both
// pass guard 2, but only one can insert the payments row; the other's
// transaction fails on the primary key, rolls back its debit and is retried,
// when guard 2 stops it.
import { and, eq, gte, sql } from 'drizzle-orm'
import type { Executor } from '../shared/db/client'
import { type FailureReason, messageIds, type PaymentRequested, SUBJECTS } from '../shared/messaging/contracts'
import { enqueueMessage } from '../shared/messaging/outbox'
import { accounts, ledgerEntries, payments } from './schema'

export type ChargeResult =
  | { outcome: 'already_decided'; previous: 'succeeded' | 'failed' }
  | { outcome: 'succeeded'; balanceAfter: number }
  | { outcome: 'failed'; reason: FailureReason }

export async function chargeOrder(tx: Executor, request: PaymentRequested, requestId?: string): Promise<ChargeResult> {
  const { orderId, userId, amount } = request
  const [decided] = await tx.select({ outcome: payments.outcome }).from(payments).where(eq(payments.orderId, orderId))
  if (decided) return { outcome: 'already_decided', previous: decided.outcome }

  const [debited] = await tx
    .update(accounts)
    .set({ balance: sql`${accounts.balance} - ${amount}` })
    .where(and(eq(accounts.userId, userId), gte(accounts.balance, amount)))
    .returning({ balance: accounts.balance })

  const resultMessage = { id: messageIds.paymentResult(orderId), requestId }
  if (debited) {
    await tx.insert(payments).values({ orderId, userId, amount, outcome: 'succeeded' })
    await tx.insert(ledgerEntries).values({ userId, kind: 'payment', amount, orderId, balanceAfter: debited.balance })
    await enqueueMessage(tx, { ...resultMessage, subject: SUBJECTS.paymentSucceeded, payload: { orderId, userId, amount } })
    return { outcome: 'succeeded', balanceAfter: debited.balance }
  }

  const [account] = await tx.select({ userId: accounts.userId }).from(accounts).where(eq(accounts.userId, userId))
  const reason: FailureReason = account ? 'insufficient_funds' : 'account_not_found'
  await tx.insert(payments).values({ orderId, userId, amount, outcome: 'failed', reason })
  await enqueueMessage(tx, { ...resultMessage, subject: SUBJECTS.paymentFailed, payload: { orderId, userId, amount, reason } })
  return { outcome: 'failed', reason }
}

// Consumes PaymentSucceeded / PaymentFailed: moves the orders out of NEW in the
// messages' transaction and, after commit, announces each change on NATS. A
// result for an order already final, and a message the inbox already holds,
// announce the order's final status again.
import { type NatsConnection, headers as natsHeaders } from '@nats-io/transport-node'
import { Counter, type Registry } from 'prom-client'
import { encodeMessage, type OrderStatusChanged, SUBJECTS, TRACEPARENT_HEADER } from '../shared/messaging/contracts'
import type { BatchItem, MessageHandler } from '../shared/messaging/inbox-consumer'
import { type Span, traceparentOf } from '../shared/tracing'
import { applyPaymentResults, finalStatuses, type PaymentResult } from './service'

export const PAYMENT_RESULT_SUBJECTS = [SUBJECTS.paymentSucceeded, SUBJECTS.paymentFailed] as const
type ResultSubject = (typeof PAYMENT_RESULT_SUBJECTS)[number]

export function handlePaymentResults(nc: NatsConnection, metrics: Registry): MessageHandler<ResultSubject> {
  const finals = new Counter({
    name: 'gozon_orders_final_total',
    help: 'Orders that reached a final status, by status',
    labelNames: ['status'],
    registers: [metrics],
  })
  return async (tx, items) => {
    const results: PaymentResult[] = items.map(({ message }) => {
      const { orderId, userId } = message.payload
      return message.subject === SUBJECTS.paymentSucceeded
        ? { orderId, userId, outcome: 'succeeded' }
        : { orderId, userId, outcome: 'failed', reason: message.payload.reason }
    })
    const changes = await applyPaymentResults(tx, results)
    const byOrder = new Map(changes.map((c) => [c.orderId, c]))
    const unchanged: string[] = []
    for (const { message, ctx } of items) {
      const change = byOrder.get(message.payload.orderId)
      if (change) ctx.log.info({ status: change.status, reason: change.reason }, 'order status changed')
      else {
        ctx.log.warn('order is already final or unknown; left unchanged')
        unchanged.push(message.payload.orderId)
      }
    }
    const again = await finalStatuses(tx, unchanged)
    const spans = spansByOrder(items)
    return () => {
      for (const change of changes) finals.inc({ status: change.status })
      announce(nc, [...changes, ...again], spans)
    }
  }
}

/** Each order's delivery span (tracing on): its announcement continues that trace to the gateway's push. */
function spansByOrder(items: BatchItem<ResultSubject>[]): Map<string, Span | undefined> {
  return new Map(items.map(({ message, ctx }) => [message.payload.orderId, ctx.span]))
}

/** Messages already handled (redelivered after a crash past commit): their orders' status is announced again. */
export function reannounceDuplicates(nc: NatsConnection): MessageHandler<ResultSubject> {
  return async (tx, items) => {
    const again = await finalStatuses(
      tx,
      items.map(({ message }) => message.payload.orderId),
    )
    const spans = spansByOrder(items)
    return () => announce(nc, again, spans)
  }
}

/**
 * Best effort, after commit (core NATS, at most once): pages also read the
 * current state on (re)connect, a gateway resends it after its own NATS
 * reconnect, and a result seen again announces again (above).
 */
function announce(nc: NatsConnection, changes: OrderStatusChanged[], spans: Map<string, Span | undefined>): void {
  for (const change of changes) {
    const traceparent = traceparentOf(spans.get(change.orderId))
    const headers = traceparent ? natsHeaders() : undefined
    if (traceparent) headers!.set(TRACEPARENT_HEADER, traceparent)
    nc.publish(SUBJECTS.orderStatusChanged, encodeMessage(SUBJECTS.orderStatusChanged, change), headers ? { headers } : undefined)
  }
}

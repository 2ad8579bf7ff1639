// Consumes PaymentSucceeded / PaymentFailed: moves the order out of NEW in the
// message's transaction and, after commit, announces the change on NATS.
import type { NatsConnection } from '@nats-io/transport-node'
import { encodeMessage, SUBJECTS } from '../shared/messaging/contracts'
import type { MessageHandler } from '../shared/messaging/inbox-consumer'
import { applyPaymentResult, type PaymentResult } from './service'

export const PAYMENT_RESULT_SUBJECTS = [SUBJECTS.paymentSucceeded, SUBJECTS.paymentFailed] as const
type ResultSubject = (typeof PAYMENT_RESULT_SUBJECTS)[number]

export function handlePaymentResult(nc: NatsConnection): MessageHandler<ResultSubject> {
  return async (tx, message, ctx) => {
    const { orderId, userId } = message.payload
    const result: PaymentResult =
      message.subject === SUBJECTS.paymentSucceeded
        ? { orderId, userId, outcome: 'succeeded' }
        : { orderId, userId, outcome: 'failed', reason: message.payload.reason }
    const change = await applyPaymentResult(tx, result)
    if (!change) {
      ctx.log.warn('order is already final or unknown; left unchanged')
      return undefined
    }
    ctx.log.info({ status: change.status, reason: change.reason }, 'order status changed')
    // Best effort, after commit: pages also read the current state on (re)connect.
    return () => nc.publish(SUBJECTS.orderStatusChanged, encodeMessage(SUBJECTS.orderStatusChanged, change))
  }
}

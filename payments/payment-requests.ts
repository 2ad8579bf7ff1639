// Consumes PaymentRequested: charges the order in the message's transaction.
import type { SUBJECTS } from '../shared/messaging/contracts'
import type { MessageHandler } from '../shared/messaging/inbox-consumer'
import { chargeOrder } from './charges'

export const handlePaymentRequest: MessageHandler<typeof SUBJECTS.paymentRequested> = async (tx, message, ctx) => {
  const result = await chargeOrder(tx, message.payload, ctx.requestId)
  if (result.outcome === 'already_decided') {
    ctx.log.warn('order already charged or refused; not charged again')
  } else {
    ctx.log.info({ ...result, amount: message.payload.amount }, 'payment decided')
  }
  return undefined
}

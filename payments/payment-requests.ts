// Consumes PaymentRequested: charges the batch's orders in its transaction.

import type { ServiceDeps } from '../shared/backend-service'
import type { SUBJECTS } from '../shared/messaging/contracts'
import type { MessageHandler } from '../shared/messaging/inbox-consumer'
import { traceparentOf } from '../shared/tracing'
import { chargeOrders } from './charges'
import type { schema } from './schema'

export function handlePaymentRequests(outboxWritten: ServiceDeps<typeof schema>['outboxWritten']): MessageHandler<typeof SUBJECTS.paymentRequested> {
  return async (tx, items) => {
    const results = await chargeOrders(
      tx,
      items.map(({ message, ctx }) => ({ request: message.payload, requestId: ctx.requestId, traceContext: traceparentOf(ctx.span) })),
    )
    for (const [i, { result }] of results.entries()) {
      const { message, ctx } = items[i]!
      if (result.outcome === 'already_decided') ctx.log.warn('order already charged or refused; not charged again')
      else ctx.log.info({ ...result, amount: message.payload.amount }, 'payment decided')
    }
    // After commit: publish the results right away.
    const written = results.flatMap((r) => (r.message ? [r.message] : []))
    return () => outboxWritten(written)
  }
}

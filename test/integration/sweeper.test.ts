// Lost messages: the stuck-order sweeper asks again for orders left in NEW,
// and payments answers with a decision or, for an order it had decided, the
// recorded result. Messages are "lost" by purging them from JetStream.
import { expect, test } from 'bun:test'
import { jetstreamManager } from '@nats-io/jetstream'
import { STREAMS } from '../../shared/messaging/contracts'
import { eventually, pollUntil } from '../support/poll'
import { startSystem } from '../support/system'

test('a payment request lost by the broker: the order is asked for again and paid once', async () => {
  const sys = await startSystem({ paymentsConsumer: false, env: { ORDERS_STUCK_AFTER_MS: '500' } })
  try {
    await sys.openAccount('lost', 1000)
    const id = await sys.createOrder('lost', 300)
    await pollUntil('the payment request in the stream', () => sys.streamMessages('paymentRequests'), (n) => n >= 1, { timeoutMs: 5000, intervalMs: 10 })
    // Lost for real: the request is gone from the stream before anyone read it.
    expect((await (await jetstreamManager(sys.probe)).streams.purge(STREAMS.paymentRequests.name)).purged).toBeGreaterThanOrEqual(1)
    sys.payments.consumer.start()
    expect((await sys.waitForFinal('lost', id, 10_000)).status).toBe('FINISHED')
    expect(await sys.balance('lost')).toBe(700)
    const [debits] = await sys.paymentsSql`select count(*)::int as n from ledger_entries where order_id = ${id}`
    expect(debits!.n).toBe(1)
  } finally {
    await sys.stop()
  }
})

test('a payment result lost by the broker: payments sends the recorded result again, nothing is charged twice', async () => {
  const sys = await startSystem({ ordersConsumer: false, env: { ORDERS_STUCK_AFTER_MS: '500' } })
  try {
    await sys.openAccount('dropped', 1000)
    const id = await sys.createOrder('dropped', 400)
    await eventually(
      'the payment decided and its result in the stream',
      async () => {
        const [decided] = await sys.paymentsSql`select count(*)::int as n from payments where order_id = ${id}`
        return decided!.n === 1 && (await sys.streamMessages('paymentResults')) >= 1
      },
      { timeoutMs: 5000, intervalMs: 10 },
    )
    expect((await (await jetstreamManager(sys.probe)).streams.purge(STREAMS.paymentResults.name)).purged).toBeGreaterThanOrEqual(1)
    sys.orders.consumer.start()
    expect((await sys.waitForFinal('dropped', id, 10_000)).status).toBe('FINISHED')
    expect(await sys.balance('dropped')).toBe(600)
    const [debits] = await sys.paymentsSql`select count(*)::int as n from ledger_entries where order_id = ${id}`
    expect(debits!.n).toBe(1)
  } finally {
    await sys.stop()
  }
})

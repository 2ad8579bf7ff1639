// Lost messages: the stuck-order sweeper asks again for orders left in NEW,
// and payments answers with a decision or, for an order it had decided, the
// recorded result. Messages are "lost" by purging them from JetStream.
import { expect, test } from 'bun:test'
import { jetstreamManager } from '@nats-io/jetstream'
import { STREAMS } from '../../shared/messaging/contracts'
import { startSystem } from '../support/system'

test('a payment request lost by the broker: the order is asked for again and paid once', async () => {
  const sys = await startSystem({ paymentsConsumer: false, env: { ORDERS_STUCK_AFTER_MS: '500' } })
  try {
    await sys.openAccount('lost', 1000)
    const id = await sys.createOrder('lost', 300)
    const deadline = Date.now() + 5000
    while ((await sys.streamMessages('paymentRequests')) < 1 && Date.now() < deadline) await Bun.sleep(10)
    await (await jetstreamManager(sys.probe)).streams.purge(STREAMS.paymentRequests.name)
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
    const deadline = Date.now() + 5000
    for (;;) {
      const [decided] = await sys.paymentsSql`select count(*)::int as n from payments where order_id = ${id}`
      if (decided!.n === 1 && (await sys.streamMessages('paymentResults')) >= 1) break
      if (Date.now() > deadline) throw new Error('payment not decided')
      await Bun.sleep(10)
    }
    await (await jetstreamManager(sys.probe)).streams.purge(STREAMS.paymentResults.name)
    sys.orders.consumer.start()
    expect((await sys.waitForFinal('dropped', id, 10_000)).status).toBe('FINISHED')
    expect(await sys.balance('dropped')).toBe(600)
    const [debits] = await sys.paymentsSql`select count(*)::int as n from ledger_entries where order_id = ${id}`
    expect(debits!.n).toBe(1)
  } finally {
    await sys.stop()
  }
})

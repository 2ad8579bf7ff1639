// Lost messages: the stuck-order sweeper asks again for orders left in NEW,
// and payments answers with a decision or, for an order it had decided, the
// recorded result. Messages are "lost" by purging them from JetStream.
import { expect, test } from 'bun:test'
import { jetstreamManager } from '@nats-io/jetstream'
import { DEFAULT_SWEEPER, StuckOrderSweeper } from '../../orders/sweeper'
import { STREAMS } from '../../shared/messaging/contracts'
import { eventually, pollUntil } from '../support/poll'
import { METRICS_SCRAPE, startSystem } from '../support/system'

test('a payment request lost by the broker: the order is asked for again and paid once', async () => {
  const sys = await startSystem({ paymentsConsumer: false, env: { ORDERS_STUCK_AFTER_MS: '500' } })
  try {
    await sys.openAccount('lost', 1000)
    const id = await sys.createOrder('lost', 300)
    await pollUntil(
      'the payment request in the stream',
      () => sys.streamMessages('paymentRequests'),
      (n) => n >= 1,
      { timeoutMs: 5000, intervalMs: 10 },
    )
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

test('no answer at all: asks back off, stop at the cap, and the order is reported; an answer that comes later still finalises it', async () => {
  const sys = await startSystem({ paymentsConsumer: false, env: { ORDERS_STUCK_AFTER_MS: '200', ORDERS_MAX_PAYMENT_ASKS: '4' } })
  try {
    await sys.openAccount('silent', 1000)
    const id = await sys.createOrder('silent', 250)
    const asks = async () =>
      (await sys.ordersSql`select id, created_at from outbox where payload->>'orderId' = ${id} order by created_at`) as unknown as {
        id: string
        created_at: Date
      }[]
    const deadline = Date.now() + 15_000
    for (;;) {
      const [order] = await sys.ordersSql`select payment_gave_up_at from orders where id = ${id}`
      if (order!.payment_gave_up_at) break
      if (Date.now() > deadline) throw new Error('the sweeper never gave up')
      await Bun.sleep(50)
    }
    const rows = await asks()
    // The order's own request and three asks: 200 ms, then 200-400, 400-800 ms (jittered) apart.
    expect(rows.map((r) => r.id)).toEqual([
      `payment-requested:${id}`,
      `payment-requested:${id}:ask:2`,
      `payment-requested:${id}:ask:3`,
      `payment-requested:${id}:ask:4`,
    ])
    const gaps = rows.slice(1).map((r, i) => r.created_at.getTime() - rows[i]!.created_at.getTime())
    expect(gaps[1]!).toBeGreaterThanOrEqual(190)
    expect(gaps[2]!).toBeGreaterThanOrEqual(390)
    await Bun.sleep(1000) // given up: no more asks, however long it stays NEW
    expect(await asks()).toHaveLength(4)

    const report = await sys.api('GET', '/api/orders/operations', { user: 'ops' })
    expect(report.body.givenUp).toMatchObject({ count: 1, latest: [{ orderId: id, asks: 4 }] })
    const metrics = await (await fetch(`${sys.orders.url}/metrics`, { headers: METRICS_SCRAPE })).text()
    expect(metrics).toMatch(/^gozon_orders_payment_given_up{service="orders"} 1$/m)
    expect(metrics).toMatch(/^gozon_orders_payment_asked_again_total{service="orders"} 3$/m)

    sys.payments.consumer.start() // payments comes back: four requests wait in the stream
    expect((await sys.waitForFinal('silent', id)).status).toBe('FINISHED')
    expect(await sys.balance('silent')).toBe(750)
    await sys.waitForConsumerIdle(STREAMS.paymentRequests.name, 'payments-service')
    const [results] = await sys.paymentsSql`select count(*)::int as n from outbox where payload->>'orderId' = ${id}`
    expect(results!.n).toBeLessThanOrEqual(4)
    const [debits] = await sys.paymentsSql`select count(*)::int as n from ledger_entries where order_id = ${id}`
    expect(debits!.n).toBe(1)
  } finally {
    await sys.stop()
  }
})

test('two sweepers on one database never ask for the same order at once', async () => {
  const sys = await startSystem({ paymentsConsumer: false, ordersRelay: false, env: { ORDERS_STUCK_AFTER_MS: '100000' } })
  try {
    const ids = await Promise.all(Array.from({ length: 60 }, () => sys.createOrder('crowd', 100)))
    await sys.ordersSql`update orders set next_ask_at = now() - interval '1 second'`
    const settings = { ...DEFAULT_SWEEPER, stuckAfterMs: 100_000, batchSize: 40 }
    const sweepers = [0, 1].map(() => new StuckOrderSweeper({ db: sys.orders.db, log: sys.orders.log, outboxWritten: () => {} }, settings))
    const results = await Promise.all(sweepers.map((s) => s.sweep()))
    const more = await Promise.all(sweepers.map((s) => s.sweep()))
    expect([...results, ...more].reduce((n, r) => n + r.asked, 0)).toBe(60)
    const rows = await sys.ordersSql`select payment_asks, next_ask_at > now() as later from orders where id = any(${ids})`
    expect(rows.every((r) => r.payment_asks === 2 && r.later === true)).toBe(true)
  } finally {
    await sys.stop()
  }
})

// Fault injection with real processes: kill a service at an exact line, stop
// the broker, and check the invariants once the fault has healed.
// `bun run test:faults` runs only these; `bun run test` runs them too.
import { afterEach, expect, test } from 'bun:test'
import { SUBJECTS } from '../../shared/messaging/contracts'
import { pollUntil } from '../support/poll'
import { orderStream, placedMore, report, shoppers, startFaultSystem } from './harness'

type System = Awaited<ReturnType<typeof startFaultSystem>>
let sys: System | undefined
afterEach(async () => {
  await sys?.stop()
  sys = undefined
})

async function placeOrders(s: System, count: number, users: number, amount: number): Promise<number> {
  let created = 0
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const r = await s.call('orders', 'POST', '/api/orders', `f${i % users}`, { amount })
      if (r.status === 201) created += 1
    }),
  )
  return created
}

test('1. payments killed after its commit, before the ack: redelivered, recognised, charged once', async () => {
  sys = await startFaultSystem()
  await sys.start('orders')
  await sys.start('payments', { GOZON_FAILPOINTS: 'payments-service.after-commit=kill' })
  await shoppers(sys, 5, 1000)
  expect(await placeOrders(sys, 40, 5, 100)).toBe(40)
  expect(await sys.died('payments')).toBeNull() // SIGKILL by its own fail point
  await sys.start('payments') // without the fail point
  report('1 (kill after commit)', await sys.checkInvariants())
  const [dups] = await sys.paymentsSql`select count(*)::int as n from payments`
  expect(dups!.n).toBe(40)
}, 60_000)

test('2. payments killed before its commit: nothing was written, the redelivery charges once', async () => {
  sys = await startFaultSystem()
  await sys.start('orders')
  await sys.start('payments', { GOZON_FAILPOINTS: 'payments-service.before-commit=kill' })
  await shoppers(sys, 4, 500)
  expect(await placeOrders(sys, 30, 4, 100)).toBe(30)
  await sys.died('payments')
  await sys.start('payments')
  report('2 (kill before commit)', await sys.checkInvariants())
}, 60_000)

test('3. orders killed after publishing, before marking published: the sweeper publishes again, the inbox absorbs it', async () => {
  // A 1-second duplicate window, so the inbox alone must recognise the re-publish.
  sys = await startFaultSystem({ NATS_DUPLICATE_WINDOW_MS: '1000', RELAY_GRACE_MS: '1500' })
  await sys.start('orders', { GOZON_FAILPOINTS: 'orders.relay.after-publish=kill' })
  await sys.start('payments')
  await shoppers(sys, 3, 1000)
  const first = await sys.call('orders', 'POST', '/api/orders', 'f0', { amount: 100 })
  expect(first.status).toBe(201)
  await sys.died('orders')
  await Bun.sleep(1200) // past the duplicate window
  await sys.start('orders')
  expect(await placeOrders(sys, 20, 3, 50)).toBe(20)
  report('3 (kill between publish and mark, 1 s window)', await sys.checkInvariants())
  const [charged] = await sys.paymentsSql`select count(*)::int as n from ledger_entries where order_id = ${first.body.id as string}`
  expect(charged!.n).toBe(1)
}, 60_000)

for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
  test(`5. nats-server stopped (${signal}) for 5 s in the middle of a stream of orders`, async () => {
    sys = await startFaultSystem()
    await sys.start('orders')
    await sys.start('payments')
    await shoppers(sys, 5, 100_000)
    const stream = orderStream(sys, 5)
    await placedMore(stream.placed, 50, 'before the fault')
    await sys.stopNats(signal)
    await Bun.sleep(5000) // the fault
    await sys.restartNats()
    await placedMore(stream.placed, 25, 'after nats-server is back')
    const { placed } = await stream.stop()
    expect(placed).toBeGreaterThan(50)
    report(`5 (nats-server ${signal} for 5 s)`, await sys.checkInvariants())
  }, 90_000)
}

test('5b. nats-server SIGKILLed mid-stream with the stuck-order sweeper off: no acknowledged publish is lost', async () => {
  // One ask per order (its own request): nothing would heal a lost message.
  sys = await startFaultSystem({ ORDERS_MAX_PAYMENT_ASKS: '1' })
  expect(sys.natsSyncsAlways()).toBe(process.env.GOZON_ALLOW_NATS_WITHOUT_FSYNC !== 'true') // sync_interval: always (nats-server 2.10+)
  await sys.start('orders')
  await sys.start('payments')
  await shoppers(sys, 5, 100_000)
  const stream = orderStream(sys, 5)
  await placedMore(stream.placed, 100, 'before the fault')
  await sys.stopNats('SIGKILL')
  await Bun.sleep(2000) // the fault
  await sys.restartNats()
  await placedMore(stream.placed, 50, 'after nats-server is back')
  await stream.stop()
  const [asked] = await sys.ordersSql`select count(*)::int as n from outbox where id like '%:ask:%'`
  expect(asked!.n).toBe(0) // no order was asked for again: every one was paid from its first request
  report('5b (nats-server SIGKILL, sweeper off)', await sys.checkInvariants())
}, 90_000)

for (const signal of ['SIGINT', 'SIGQUIT'] as const) {
  const mode = signal === 'SIGINT' ? 'fast' : 'immediate'
  test(`6. PostgreSQL stopped for 10 s mid-load (${mode} shutdown)`, async () => {
    sys = await startFaultSystem({}, { ownPostgres: true })
    await sys.start('orders')
    await sys.start('payments')
    await shoppers(sys, 5, 100_000)
    const stream = orderStream(sys, 5)
    await placedMore(stream.placed, 50, 'before the fault')
    await sys.stopPostgres(signal)
    const during = await sys.call('orders', 'POST', '/api/orders', 'f0', { amount: 10 })
    expect(during).toMatchObject({ status: 503, body: { error: 'service_unavailable' } }) // a clear "unavailable", not a 500
    await Bun.sleep(10_000) // the fault
    await sys.restartPostgres()
    await placedMore(stream.placed, 25, 'after PostgreSQL is back')
    const { placed } = await stream.stop()
    expect(placed).toBeGreaterThan(20)
    report(`6 (PostgreSQL ${mode} shutdown for 10 s)`, await sys.checkInvariants(45_000))
  }, 120_000)
}

test('7. PostgreSQL frozen (SIGSTOP) longer than the consumers’ ack wait, then resumed', async () => {
  sys = await startFaultSystem({}, { ownPostgres: true })
  await sys.start('orders')
  await sys.start('payments')
  await shoppers(sys, 5, 100_000)
  const s = sys
  const known = await sys.call('orders', 'POST', '/api/orders', 'f0', { amount: 10 })
  await pollUntil(
    'the first order to be final',
    () => s.call('orders', 'GET', `/api/orders/${known.body.id}`, 'f0'),
    (r) => r.body.status !== 'NEW',
  )
  const stream = orderStream(sys, 5)
  await placedMore(stream.placed, 50, 'before the fault')
  sys.signalPostgres('SIGSTOP')
  // The stream's own messages may all be between deliveries at this instant: the same request
  // again, under a new id (scenario 4 shows it is harmless), is certainly in payments' hands
  // while PostgreSQL is frozen.
  await sys.publishRaw(SUBJECTS.paymentRequested, { orderId: known.body.id, userId: 'f0', amount: 10 }, `during-freeze:${known.body.id}`)
  await Bun.sleep(4000) // the fault; ack wait is 1.5 s: JetStream redelivers while transactions hang
  sys.signalPostgres('SIGCONT')
  await placedMore(stream.placed, 25, 'after PostgreSQL is thawed')
  const { placed } = await stream.stop()
  expect(placed).toBeGreaterThan(20)
  const summary = await sys.checkInvariants(45_000)
  // The point of the scenario: JetStream really redelivered (a delivery count above 1 reached a
  // consumer, which the inbox then recognised), not just that the end state is right.
  const redeliveries = {
    payments: await sys.metric('payments', 'gozon_consumer_redeliveries_total'),
    orders: await sys.metric('orders', 'gozon_consumer_redeliveries_total'),
  }
  expect(redeliveries.payments).toBeGreaterThan(0)
  report('7 (PostgreSQL frozen 4 s)', `${summary}; redelivered to payments ${redeliveries.payments}, to orders ${redeliveries.orders}`)
}, 120_000)

test('8. 200 concurrent orders on an account that covers 50, while payments is killed after a commit', async () => {
  sys = await startFaultSystem()
  await sys.start('orders')
  await sys.start('payments', { GOZON_FAILPOINTS: 'payments-service.after-commit=kill' })
  await shoppers(sys, 1, 50 * 100)
  expect(await placeOrders(sys, 200, 1, 100)).toBe(200)
  await sys.died('payments')
  await sys.start('payments')
  report('8 (200 orders on one account covering 50, under fault 1)', await sys.checkInvariants())
  const [finished] = await sys.ordersSql`select count(*)::int as n from orders where status = 'FINISHED'`
  expect(finished!.n).toBe(50)
  const [account] = await sys.paymentsSql`select balance::bigint as balance from accounts where user_id = 'f0'`
  expect(Number(account!.balance)).toBe(0)
}, 60_000)

test('4. the same payment command published twice, under the same and under different message ids', async () => {
  sys = await startFaultSystem()
  await sys.start('orders')
  await sys.start('payments')
  await shoppers(sys, 1, 1000)
  const created = await sys.call('orders', 'POST', '/api/orders', 'f0', { amount: 300 })
  const orderId = created.body.id as string
  await pollUntil(
    'the order to be final',
    () => sys!.call('orders', 'GET', `/api/orders/${orderId}`, 'f0'),
    (r) => r.body.status !== 'NEW',
  )
  const command = { orderId, userId: 'f0', amount: 300 }
  const same = await sys.publishRaw('gozon.payments.requested', command, `payment-requested:${orderId}`)
  expect(same.duplicate).toBe(true) // JetStream already had it
  for (const id of ['again-1', 'again-2']) await sys.publishRaw('gozon.payments.requested', command, id)
  report('4 (same command, same and different ids)', await sys.checkInvariants())
  const [debits] = await sys.paymentsSql`select count(*)::int as n from ledger_entries where order_id = ${orderId}`
  expect(debits!.n).toBe(1)
}, 60_000)

test('9. poison messages (bad JSON, a negative amount, an unknown user) among good ones', async () => {
  sys = await startFaultSystem()
  await sys.start('orders')
  await sys.start('payments')
  await shoppers(sys, 2, 1000)
  await sys.publishRaw('gozon.payments.requested', '{not json', 'poison-1')
  await sys.publishRaw('gozon.payments.requested', { orderId: crypto.randomUUID(), userId: 'f0', amount: -5 }, 'poison-2')
  expect(await placeOrders(sys, 20, 2, 10)).toBe(20)
  // An unknown user is not poison: the order of someone without an account is cancelled.
  await sys.call('orders', 'POST', '/api/orders', 'stranger', { amount: 10 })
  report('9 (poison among good)', await sys.checkInvariants())
  const dead = await sys.paymentsSql`select message_id from dead_letters order by message_id`
  expect(dead.map((d) => d.message_id)).toEqual(['poison-1', 'poison-2'])
  const [stranger] = await sys.ordersSql`select status, reason from orders where user_id = 'stranger'`
  expect(stranger).toMatchObject({ status: 'CANCELLED', reason: 'account_not_found' })
}, 60_000)

// Fault scenario 11: payments down for two minutes while 500 orders wait in
// NEW. The stuck-order sweeper asks again with back-off and stops at its cap,
// so the asks stay bounded however long the outage lasts; once payments is
// back every order is decided once, and payments answers the repeated asks
// without a new result row per ask.
import { afterEach, expect, test } from 'bun:test'
import { report, startFaultSystem } from './harness'

type System = Awaited<ReturnType<typeof startFaultSystem>>
let sys: System | undefined
afterEach(async () => {
  await sys?.stop()
  sys = undefined
})

const ORDERS = 500
const USERS = 10
const MAX_ASKS = 6
const OUTAGE_MS = 120_000

test('11. payments down for 2 minutes with 500 NEW orders: bounded asks, all decided once it is back', async () => {
  sys = await startFaultSystem()
  await sys.start('orders', { ORDERS_STUCK_AFTER_MS: '1000', ORDERS_MAX_PAYMENT_ASKS: String(MAX_ASKS) })
  await sys.start('payments')
  for (let u = 0; u < USERS; u++) {
    await sys.call('payments', 'POST', '/api/payments/account', `out${u}`)
    // Enough for 40 of each user's 50 orders of 100.
    await sys.call('payments', 'POST', '/api/payments/account/top-up', `out${u}`, { amount: 4000 })
  }
  await sys.kill('payments')
  const downSince = Date.now()
  const created = await Promise.all(Array.from({ length: ORDERS }, (_, i) => sys!.call('orders', 'POST', '/api/orders', `out${i % USERS}`, { amount: 100 })))
  expect(created.every((r) => r.status === 201)).toBe(true)

  const asksSoFar = async () => {
    const [row] = await sys!
      .ordersSql`select count(*)::int as n, max(payment_asks)::int as most, count(*) filter (where payment_gave_up_at is not null)::int as given_up from orders`
    const [requests] = await sys!.ordersSql`select count(*)::int as n from outbox`
    return { orders: row!.n as number, most: row!.most as number, givenUp: row!.given_up as number, requests: requests!.n as number }
  }
  // Half-way and at the end of the outage: never more than the cap per order,
  // and no more requests at the end than half-way once every order was given up.
  await Bun.sleep(OUTAGE_MS / 2 - (Date.now() - downSince))
  const halfway = await asksSoFar()
  await Bun.sleep(OUTAGE_MS - (Date.now() - downSince))
  const end = await asksSoFar()
  for (const figures of [halfway, end]) {
    expect(figures.most).toBeLessThanOrEqual(MAX_ASKS)
    expect(figures.requests).toBeLessThanOrEqual(ORDERS * MAX_ASKS)
  }
  expect(end.givenUp).toBe(ORDERS)
  expect(end.requests).toBe(ORDERS * MAX_ASKS)

  await sys.start('payments')
  const summary = await sys.checkInvariants(60_000)
  const [decided] = await sys.paymentsSql`select count(*)::int as n, count(*) filter (where outcome = 'succeeded')::int as paid from payments`
  expect(decided!.n).toBe(ORDERS)
  expect(decided!.paid).toBe(USERS * 40)
  const [answers] = await sys.paymentsSql`select count(*)::int as n from outbox`
  // One decision per order, and a repeated answer only where the last one had already gone out.
  expect(answers!.n).toBeGreaterThanOrEqual(ORDERS)
  expect(answers!.n).toBeLessThan(ORDERS * MAX_ASKS)
  report(
    '11 (payments down 2 min, 500 NEW orders)',
    `${end.requests} payment requests in all (cap ${MAX_ASKS} per order; ${halfway.requests} after 1 min), ${end.givenUp} orders reported as given up, then ${summary}; payments wrote ${answers!.n} result rows for ${ORDERS * MAX_ASKS} requests`,
  )
}, 240_000)

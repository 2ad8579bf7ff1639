// The whole path of an order through the gateway: HTTP → orders (order +
// outbox) → relay → payments (one transaction) → relay → orders → final status.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startSystem, type TestSystem } from '../support/system'

let sys: TestSystem
beforeAll(async () => {
  sys = await startSystem()
})
afterAll(() => sys.stop())

describe('paying an order', () => {
  test('an order the balance covers is FINISHED and debited once', async () => {
    await sys.openAccount('alice', 1000)
    const created = await sys.api('POST', '/api/orders', { user: 'alice', body: { amount: 300, description: 'a book' } })
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({ userId: 'alice', amount: 300, description: 'a book', status: 'NEW', reason: null })
    expect(created.body.id).toMatch(/^[0-9a-f-]{36}$/)

    const order = await sys.waitForFinal('alice', created.body.id)
    expect(order).toMatchObject({ status: 'FINISHED', reason: null })
    expect(await sys.balance('alice')).toBe(700)

    const statement = await sys.api('GET', '/api/payments/account/transactions', { user: 'alice' })
    expect(statement.status).toBe(200)
    expect(statement.body).toHaveLength(2)
    expect(statement.body[0]).toMatchObject({ kind: 'payment', amount: 300, orderId: created.body.id, balanceAfter: 700 })
    expect(statement.body[1]).toMatchObject({ kind: 'top_up', amount: 1000, balanceAfter: 1000 })
    expect(statement.body[1].orderId).toBeUndefined()
  })

  test('an order over the balance is CANCELLED with insufficient_funds and nothing is debited', async () => {
    await sys.openAccount('bob', 100)
    const id = await sys.createOrder('bob', 101)
    expect(await sys.waitForFinal('bob', id)).toMatchObject({ status: 'CANCELLED', reason: 'insufficient_funds' })
    expect(await sys.balance('bob')).toBe(100)
    const statement = await sys.api('GET', '/api/payments/account/transactions', { user: 'bob' })
    expect(statement.body.map((e: { kind: string }) => e.kind)).toEqual(['top_up'])
  })

  test('an order of a user without an account is CANCELLED with account_not_found', async () => {
    const id = await sys.createOrder('carol', 50)
    expect(await sys.waitForFinal('carol', id)).toMatchObject({ status: 'CANCELLED', reason: 'account_not_found' })
    expect((await sys.api('GET', '/api/payments/account', { user: 'carol' })).status).toBe(404)
  })

  test('a payment that failed stays failed after a top-up (the outcome per order is final)', async () => {
    await sys.openAccount('dave', 10)
    const id = await sys.createOrder('dave', 500)
    expect(await sys.waitForFinal('dave', id)).toMatchObject({ status: 'CANCELLED' })
    await sys.api('POST', '/api/payments/account/top-up', { user: 'dave', body: { amount: 1000 } })
    // The same request again, under a new message id: payments must not charge it now.
    await sys.publishRaw('gozon.payments.requested', { orderId: id, userId: 'dave', amount: 500 }, 'retry-of-failed')
    await sys.waitForConsumerIdle('GOZON_PAYMENT_REQUESTS', 'payments-service')
    expect(await sys.balance('dave')).toBe(1010)
    expect((await sys.api('GET', `/api/orders/${id}`, { user: 'dave' })).body.status).toBe('CANCELLED')
  })

  test('the status change is announced on NATS after commit', async () => {
    await sys.openAccount('erin', 100)
    const sub = sys.probe.subscribe('gozon.orders.status-changed')
    const id = await sys.createOrder('erin', 40)
    for await (const msg of sub) {
      const event = msg.json<{ orderId: string }>()
      if (event.orderId !== id) continue
      expect(event).toMatchObject({ orderId: id, userId: 'erin', status: 'FINISHED', reason: null })
      break
    }
    sub.unsubscribe()
  })
})

describe('reading orders', () => {
  test('lists newest first with a cursor, only the caller’s own', async () => {
    const ids: string[] = []
    for (let i = 0; i < 5; i++) ids.push(await sys.createOrder('frank', 10 + i))
    await sys.createOrder('grace', 99)
    const first = await sys.api('GET', '/api/orders?limit=2', { user: 'frank' })
    expect(first.status).toBe(200)
    expect(first.body.items.map((o: { id: string }) => o.id)).toEqual([ids[4], ids[3]])
    const second = await sys.api('GET', `/api/orders?limit=2&cursor=${first.body.nextCursor}`, { user: 'frank' })
    expect(second.body.items.map((o: { id: string }) => o.id)).toEqual([ids[2], ids[1]])
    const third = await sys.api('GET', `/api/orders?limit=2&cursor=${second.body.nextCursor}`, { user: 'frank' })
    expect(third.body.items.map((o: { id: string }) => o.id)).toEqual([ids[0]])
    expect(third.body.nextCursor).toBeNull()
    const all = await sys.api('GET', '/api/orders', { user: 'frank' })
    expect(all.body.items).toHaveLength(5)
  })

  test('another user’s order is indistinguishable from a missing one', async () => {
    const id = await sys.createOrder('heidi', 10)
    const other = await sys.api('GET', `/api/orders/${id}`, { user: 'ivan' })
    const missing = await sys.api('GET', '/api/orders/00000000-0000-4000-8000-000000000000', { user: 'ivan' })
    const malformed = await sys.api('GET', '/api/orders/not-a-uuid', { user: 'ivan' })
    for (const r of [other, missing, malformed]) {
      expect(r.status).toBe(404)
      expect(r.body).toEqual({ error: 'order_not_found', message: 'Order not found' })
    }
  })
})

describe('accounts', () => {
  test('concurrent account creation makes exactly one account', async () => {
    const results = await Promise.all(Array.from({ length: 25 }, () => sys.api('POST', '/api/payments/account', { user: 'judy' })))
    expect(results.filter((r) => r.status === 201)).toHaveLength(1)
    expect(results.filter((r) => r.status === 200)).toHaveLength(24)
    for (const r of results) expect(r.body).toMatchObject({ userId: 'judy', balance: 0 })
    const [row] = await sys.paymentsSql`select count(*)::int as n from accounts where user_id = 'judy'`
    expect(row!.n).toBe(1)
  })

  test('a top-up past 10^15 is refused with 422 and changes nothing', async () => {
    await sys.openAccount('ken', 1_000_000_000_000)
    for (let i = 0; i < 999; i++) {
      // Reach exactly 10^15 in the largest allowed steps.
      const r = await sys.api('POST', '/api/payments/account/top-up', { user: 'ken', body: { amount: 1_000_000_000_000 } })
      expect(r.status).toBe(200)
    }
    expect(await sys.balance('ken')).toBe(1_000_000_000_000_000)
    const over = await sys.api('POST', '/api/payments/account/top-up', { user: 'ken', body: { amount: 1 } })
    expect(over.status).toBe(422)
    expect(over.body.error).toBe('balance_limit_exceeded')
    expect(await sys.balance('ken')).toBe(1_000_000_000_000_000)
  })

  test('health is 200 on the gateway and both services', async () => {
    expect((await sys.api('GET', '/health')).status).toBe(200)
    expect((await fetch(`${sys.orders.url}/health`)).status).toBe(200)
    expect((await fetch(`${sys.payments.url}/health`)).status).toBe(200)
  })
})

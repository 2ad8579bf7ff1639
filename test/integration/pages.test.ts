// The pages over HTTP: htmx fragments versus plain form posts, validation
// next to the field, service errors as messages. (Sign-up, sign-in, CSRF:
// auth.test.ts.)
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startSystem, type TestSystem } from '../support/system'

let sys: TestSystem
beforeAll(async () => {
  sys = await startSystem()
})
afterAll(() => sys.stop())

/** A request of a signed-in browser: its session cookie, and its CSRF token in every form. */
async function page(method: string, path: string, init: { user?: string; form?: Record<string, string>; htmx?: boolean } = {}) {
  const headers: Record<string, string> = {}
  const session = init.user ? sys.pageSession(init.user) : undefined
  if (session) headers.cookie = session.cookie
  if (init.htmx) headers['hx-request'] = 'true'
  let body: string | undefined
  if (init.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded'
    body = new URLSearchParams({ ...init.form, ...(session ? { csrfToken: session.csrf } : {}) }).toString()
  }
  const response = await sys.gateway.app.handle(new Request(`http://localhost${path}`, { method, headers, body, redirect: 'manual' }))
  return { status: response.status, headers: response.headers, text: await response.text() }
}

describe('identity', () => {
  test('pages send a visitor without a session to sign in', async () => {
    for (const path of ['/', '/orders', '/account', '/orders/00000000-0000-4000-8000-000000000000']) {
      const r = await page('GET', path)
      expect(r.status).toBe(303)
      expect(r.headers.get('location')).toBe('/sign-in')
    }
  })

  test('signing out clears the cookie', async () => {
    const r = await page('POST', '/sign-out', { user: 'sam', form: {} })
    expect(r.status).toBe(303)
    expect(r.headers.get('set-cookie')).toContain('Max-Age=0')
  })
})

describe('operations', () => {
  test('the page shows each service’s outbox backlog, consumer lag and dead letters', async () => {
    await sys.publishRaw('gozon.payments.requested', '{broken', 'ops-poison')
    await sys.waitForConsumerIdle('GOZON_PAYMENT_REQUESTS', 'payments-service')
    const api = await sys.api('GET', '/api/payments/operations', { user: 'olga' })
    expect(api.status).toBe(200)
    expect(api.body.outbox).toEqual({ pending: 0, oldestPendingAgeSeconds: 0 })
    expect(api.body.consumer).toMatchObject({ durable: 'payments-service', pending: 0, ackPending: 0 })
    expect(api.body.deadLetters.count).toBeGreaterThanOrEqual(1)
    expect(api.body.deadLetters.latest[0]).toMatchObject({ subject: 'gozon.payments.requested' })
    expect(JSON.stringify(api.body.deadLetters)).not.toContain('{broken')
    expect((await sys.api('GET', '/api/orders/operations')).status).toBe(401)

    const r = await page('GET', '/operations', { user: 'olga' })
    expect(r.status).toBe(200)
    expect(r.text).toContain('id="ops-orders"')
    expect(r.text).toContain('id="ops-payments"')
    expect(r.text).toContain('payload is not valid UTF-8 JSON')
    expect(r.text).toContain('id="ops-reconciliation"')
    expect(r.text).toContain('<code>bun run reconcile</code>')
  })
})

describe('orders page', () => {
  test('an htmx order post answers with a fresh form and the new row; a plain post redirects', async () => {
    await sys.openAccount('olga', 5000)
    const htmx = await page('POST', '/orders', { user: 'olga', htmx: true, form: { amount: '12.34', description: '<b>bold</b>' } })
    expect(htmx.status).toBe(200)
    expect(htmx.text).toContain('id="order-form"')
    expect(htmx.text).toContain('hx-swap-oob="afterbegin:#order-list"')
    expect(htmx.text).toContain('&lt;b&gt;bold&lt;/b&gt;')
    expect(htmx.text).toContain('12.34')
    const plain = await page('POST', '/orders', { user: 'olga', form: { amount: '1', description: '' } })
    expect(plain.status).toBe(303)
    expect(plain.headers.get('location')).toBe('/orders')
    const orders = (await sys.api('GET', '/api/orders', { user: 'olga' })).body.items
    expect(orders.map((o: { amount: number }) => o.amount)).toEqual([100, 1234])
  })

  test('submitting the same rendered form twice places one order and tops up once', async () => {
    await sys.openAccount('twice', 1000)
    const form = await page('GET', '/orders', { user: 'twice' })
    const key = /name="idempotencyKey" value="([^"]+)"/.exec(form.text)![1]!
    const submit = () => page('POST', '/orders', { user: 'twice', htmx: true, form: { amount: '1.00', description: 'once', idempotencyKey: key } })
    const [a, b] = await Promise.all([submit(), submit()])
    expect([a.status, b.status].sort()).toContain(200)
    const again = await submit()
    expect(again.status).toBe(200)
    const placed = (await sys.api('GET', '/api/orders', { user: 'twice' })).body.items
    expect(placed).toHaveLength(1)
    await sys.waitForFinal('twice', placed[0].id)
    // The answer carries a fresh form with a new key for the next order.
    expect(again.text).toMatch(/name="idempotencyKey" value="(?!${key})/)

    const account = await page('GET', '/account', { user: 'twice' })
    const topUpKey = /name="idempotencyKey" value="([^"]+)"/.exec(account.text)![1]!
    for (let i = 0; i < 3; i++) await page('POST', '/account/top-up', { user: 'twice', htmx: true, form: { amount: '5.00', idempotencyKey: topUpKey } })
    expect(await sys.balance('twice')).toBe(1000 + 500 - 100)
  })

  test('validation errors come back next to the field, 422, and nothing is created', async () => {
    const before = (await sys.api('GET', '/api/orders', { user: 'vic' })).body.items.length
    const htmx = await page('POST', '/orders', { user: 'vic', htmx: true, form: { amount: '12.345', description: 'x' } })
    expect(htmx.status).toBe(422)
    expect(htmx.text).toContain('id="order-amount-error"')
    expect(htmx.text).toContain('value="12.345"')
    const plain = await page('POST', '/orders', { user: 'vic', form: { amount: '5', description: 'd'.repeat(201) } })
    expect(plain.status).toBe(422)
    expect(plain.text).toContain('<html')
    expect(plain.text).toContain('id="order-description-error"')
    expect((await sys.api('GET', '/api/orders', { user: 'vic' })).body.items.length).toBe(before)
  })

  test('the page lists orders with badges and the balance, and connects its live socket', async () => {
    const r = await page('GET', '/orders', { user: 'olga' })
    expect(r.status).toBe(200)
    expect(r.text).toContain('hx-ws:connect="/ws"')
    expect(r.text).toContain('/assets/htmx.min.js')
    expect(r.text).toMatch(/class="badge badge-(new|finished)"/)
    expect(r.text).toContain('id="balance"')
  })

  test('another shopper’s order page is a 404 page', async () => {
    const id = await sys.createOrder('olga', 10)
    const r = await page('GET', `/orders/${id}`, { user: 'mallory' })
    expect(r.status).toBe(404)
    expect(r.text).toContain('Order not found')
  })

  test('a service that does not answer gives a clear message, not a broken fragment', async () => {
    const another = await sys.startAnotherGateway()
    try {
      await sys.payments.stop()
      const olga = sys.pageSession('olga')
      const response = await another.app.handle(
        new Request('http://localhost/account/top-up', {
          method: 'POST',
          headers: { cookie: olga.cookie, 'hx-request': 'true', 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ amount: '5', csrfToken: olga.csrf }).toString(),
        }),
      )
      expect(response.status).toBe(502)
      const text = await response.text()
      expect(text).toContain('id="account-panel"')
      expect(text).toContain('did not answer')
    } finally {
      await another.stop()
    }
  })
})

describe('assets', () => {
  test('htmx 4.0.1 and its WebSocket extension come from the installed package', async () => {
    const htmx = await sys.gateway.app.handle(new Request('http://localhost/assets/htmx.min.js'))
    expect(htmx.status).toBe(200)
    expect(htmx.headers.get('content-type')).toContain('javascript')
    expect(await htmx.text()).toContain('4.0.1')
    expect((await sys.gateway.app.handle(new Request('http://localhost/assets/hx-ws.min.js'))).status).toBe(200)
    expect((await sys.gateway.app.handle(new Request('http://localhost/assets/nope.js'))).status).toBe(404)
  })
})

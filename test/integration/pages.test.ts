// The pages over HTTP: htmx fragments versus plain form posts, validation
// next to the field, service errors as messages. (Sign-up, sign-in, CSRF:
// auth.test.ts.)
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { freePort } from '../../launcher/free-port'
import { startSystem, type TestSystem } from '../support/system'

let sys: TestSystem
beforeAll(async () => {
  sys = await startSystem()
})
afterAll(() => sys.stop())

type Gateway = { app: { handle(request: Request): Promise<Response> } }

/** A request of a signed-in browser: its session cookie, and its CSRF token in every form; to `via`, else the system's gateway. */
async function page(method: string, path: string, init: { user?: string; form?: Record<string, string>; htmx?: boolean; via?: Gateway } = {}) {
  const headers: Record<string, string> = {}
  const session = init.user ? await sys.pageSession(init.user) : undefined
  if (session) headers.cookie = session.cookie
  if (init.htmx) headers['hx-request'] = 'true'
  let body: string | undefined
  if (init.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded'
    body = new URLSearchParams({ ...init.form, ...(session ? { csrfToken: session.csrf } : {}) }).toString()
  }
  const response = await (init.via ?? sys.gateway).app.handle(new Request(`http://localhost${path}`, { method, headers, body, redirect: 'manual' }))
  return { status: response.status, headers: response.headers, text: await response.text() }
}

describe('identity', () => {
  test('pages send a visitor without a session to sign in, and back to the page asked for afterwards', async () => {
    expect((await page('GET', '/')).headers.get('location')).toBe('/sign-in')
    for (const path of ['/orders', '/account', '/orders/00000000-0000-4000-8000-000000000000', '/operations?compare=1']) {
      const r = await page('GET', path)
      expect(r.status).toBe(303)
      expect(r.headers.get('location')).toBe(`/sign-in?next=${encodeURIComponent(path)}`)
    }
  })

  test('a deep link survives sign-in; a “next” that leads elsewhere is ignored', async () => {
    await sys.api('POST', '/api/auth/users', { body: { username: 'deep-linker', password: 'a long enough password' } })
    const id = crypto.randomUUID()
    const signIn = (next: string) =>
      sys.gateway.app.handle(
        new Request('http://localhost/sign-in', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ username: 'deep-linker', password: 'a long enough password', next }).toString(),
        }),
      )
    const form = await page('GET', `/sign-in?next=${encodeURIComponent(`/orders/${id}`)}`)
    expect(form.text).toContain(`<input type="hidden" name="next" value="/orders/${id}">`)
    expect((await signIn(`/orders/${id}`)).headers.get('location')).toBe(`/orders/${id}`)
    expect((await signIn('/account?topped-up=1')).headers.get('location')).toBe('/account?topped-up=1')
    for (const hostile of [
      '/.//evil.example',
      '/a/..//evil.example',
      '//evil.example/x',
      '/\\evil.example',
      'https://evil.example/',
      'javascript:alert(1)',
      '/\tevil',
      '/orders\r\nSet-Cookie: x=1',
      '/orders/../sign-out',
      '/sign-in',
      '',
    ]) {
      const r = await signIn(hostile)
      expect([hostile, r.status, r.headers.get('location')]).toEqual([hostile, 303, '/orders'])
    }
    // A wrong password keeps where to go.
    const wrong = await sys.gateway.app.handle(
      new Request('http://localhost/sign-in', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ username: 'deep-linker', password: 'not it at all', next: `/orders/${id}` }).toString(),
      }),
    )
    expect(wrong.status).toBe(401)
    expect(await wrong.text()).toContain(`name="next" value="/orders/${id}"`)
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
    expect(r.text).toContain('href="/operations?compare=1#ops-reconciliation"')
  })

  test('comparing the services’ digests: agree after payments; a changed amount, or books that do not balance, show', async () => {
    await sys.openAccount('rita', 1000)
    // One after the other: paid in any other order, 900 first would leave too little for the others.
    const ids: string[] = []
    for (const amount of [300, 200, 900]) {
      ids.push(await sys.createOrder('rita', amount))
      await sys.waitForFinal('rita', ids.at(-1)!)
    }
    expect((await Promise.all(ids.map((id) => sys.waitForFinal('rita', id)))).map((o) => o.status)).toEqual(['FINISHED', 'FINISHED', 'CANCELLED'])
    // Wait until nothing is in flight anywhere (other tests of this file share the system).
    await sys.waitForConsumerIdle('GOZON_PAYMENT_RESULTS', 'orders-service')
    const compared = async () => {
      const r = await page('GET', '/operations?compare=1', { user: 'olga' })
      expect(r.status).toBe(200)
      return r.text
    }
    const agreed = await compared()
    expect(agreed).toContain('data-agree="true"')
    expect(agreed).toContain('<strong>Orders and payments agree:</strong>')

    // The digests carry no order: buckets of counts, sums and hashes only.
    const digest = await sys.api('GET', '/api/orders/operations/digest', { user: 'olga' })
    expect(digest.status).toBe(200)
    expect(digest.body.buckets).toHaveLength(64)
    expect(JSON.stringify(digest.body)).not.toContain(ids[0]!)

    // A FINISHED order whose amount no longer matches its payment: one bucket differs.
    await sys.ordersSql`update orders set amount = 301 where id = ${ids[0]!}`
    const differs = await compared()
    expect(differs).toContain('data-agree="false"')
    expect(differs).toContain('<span data-metric="differing-buckets">1</span> of 64 buckets')
    await sys.ordersSql`update orders set amount = 300 where id = ${ids[0]!}`
    expect(await compared()).toContain('data-agree="true"')

    // A balance changed behind the ledger's back.
    await sys.paymentsSql`update accounts set balance = balance + 1 where user_id = 'rita'`
    const books = await compared()
    expect(books).toContain('data-agree="false"')
    expect(books).toContain('accounts whose balance is not top-ups minus debits:\n    <span data-metric="accounts-off">1</span>')
    await sys.paymentsSql`update accounts set balance = balance - 1 where user_id = 'rita'`
  })
})

const keyOf = (markup: string) => /name="idempotencyKey" value="([^"]+)"/.exec(markup)?.[1]

/** Waits until `check` is true (a request that went through after its caller gave up, say). */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`still not: ${what}`)
    await Bun.sleep(25)
  }
}

/**
 * A slow link to a service: holds every request `delayMs`, then passes it on
 * whether or not its caller still waits, as a service frozen for a while
 * that then does the work anyway.
 */
function slowLink(target: string, delayMs: number) {
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(request) {
      const url = new URL(request.url)
      const body = request.method === 'GET' ? undefined : await request.arrayBuffer()
      const headers = new Headers(request.headers)
      headers.delete('host')
      await Bun.sleep(delayMs)
      return fetch(`${target}${url.pathname}${url.search}`, { method: request.method, headers, body })
    },
  })
  return { url: `http://127.0.0.1:${server.port}`, stop: () => server.stop(true) }
}

/** A gateway whose `service` is behind a slow link (1 s) and that waits for it only 300 ms. */
async function gatewayWithSlow(service: 'orders' | 'payments') {
  const link = slowLink(sys[service].url, 1000)
  const gateway = await sys.startAnotherGateway({ [service]: { name: service, baseUrl: link.url }, upstreamTimeoutMs: 300 })
  return {
    ...gateway,
    async stop() {
      await gateway.stop()
      await link.stop()
    },
  }
}

describe('forms keep their intent across failures', () => {
  test('no JavaScript: an order the orders service did not confirm in time keeps its key; pressing again places it once', async () => {
    const user = 'slow-orders'
    await sys.openAccount(user, 5000)
    const slow = await gatewayWithSlow('orders')
    try {
      const key = keyOf((await page('GET', '/orders', { user })).text)!
      const form = { amount: '12,50', description: 'Patience', idempotencyKey: key }
      const first = await page('POST', '/orders', { user, via: slow, form })
      expect(first.status).toBe(502)
      expect(first.text).toContain('<html')
      expect(first.text).toContain(
        'We could not confirm your order yet: the orders service did not answer in time. Pressing “Place order” again is safe: it will not order or pay twice.',
      )
      expect(first.text).not.toMatch(/nothing (was )?changed/i)
      expect(keyOf(first.text)).toBe(key)
      expect(first.text).toContain('value="12,50"')
      // It went through after all, once the slow link passed it on.
      await until('the first order placed', async () => (await sys.api('GET', '/api/orders', { user })).body.items.length === 1)

      // A typo meanwhile is refused by the gateway itself: nothing is sent, the key stays.
      const typo = await page('POST', '/orders', { user, form: { ...form, amount: '12,5x' } })
      expect(typo.status).toBe(422)
      expect(keyOf(typo.text)).toBe(key)

      // Pressed again: the first request's answer, not a second order.
      const again = await page('POST', '/orders', { user, form })
      expect(again.status).toBe(303)
      const placed = (await sys.api('GET', '/api/orders', { user })).body.items
      expect(placed).toHaveLength(1)
      expect(placed[0]).toMatchObject({ amount: 1250, description: 'Patience' })
      await sys.waitForFinal(user, placed[0].id)
      const after = await page('GET', '/orders', { user })
      expect(after.text.match(/<li id="order-/g)).toHaveLength(1)
      expect(after.text).toContain('Balance <strong>37.50 EUR</strong>')
      expect(keyOf(after.text)).not.toBe(key)
    } finally {
      await slow.stop()
    }
  })

  test('no JavaScript: a top-up payments did not confirm in time keeps its key; pressing again adds the money once', async () => {
    const user = 'slow-payments'
    await sys.openAccount(user, 0)
    const slow = await gatewayWithSlow('payments')
    try {
      const key = keyOf((await page('GET', '/account', { user })).text)!
      const form = { amount: '12,50', idempotencyKey: key }
      const first = await page('POST', '/account/top-up', { user, via: slow, form })
      expect(first.status).toBe(502)
      expect(first.text).toContain('<html')
      expect(first.text).toContain(
        'We could not confirm your top-up yet: the payments service did not answer in time. Pressing “Add money” again is safe: it will not add the money twice.',
      )
      expect(first.text).not.toMatch(/nothing (was )?changed/i)
      // The account could not be read either: the form is still there, with the same key and amount.
      expect(first.text).toContain('id="top-up-form"')
      expect(keyOf(first.text)).toBe(key)
      expect(first.text).toContain('value="12,50"')
      await until('the first top-up done', async () => (await sys.balance(user)) === 1250)

      const again = await page('POST', '/account/top-up', { user, form })
      expect(again.status).toBe(303)
      expect(await sys.balance(user)).toBe(1250)
      const statement = (await sys.api('GET', '/api/payments/account/transactions', { user })).body
      expect(statement.filter((e: { kind: string }) => e.kind === 'top_up')).toHaveLength(1)
      const after = await page('GET', '/account', { user })
      expect(after.text).toContain('<strong id="account-balance">12.50 EUR</strong>')
      expect(keyOf(after.text)).not.toBe(key)
    } finally {
      await slow.stop()
    }
  })

  test('htmx: changing the values after an unknown outcome gets a fresh key and a warning, and the list as it is now', async () => {
    const user = 'changed-mind'
    await sys.openAccount(user, 5000)
    const slow = await gatewayWithSlow('orders')
    try {
      const key = keyOf((await page('GET', '/orders', { user })).text)!
      const first = await page('POST', '/orders', { user, via: slow, htmx: true, form: { amount: '5', description: 'first', idempotencyKey: key } })
      expect(first.status).toBe(502)
      expect(first.text).toContain('id="order-form"')
      expect(keyOf(first.text)).toBe(key)
      await until('the first order placed', async () => (await sys.api('GET', '/api/orders', { user })).body.items.length === 1)

      const changed = await page('POST', '/orders', { user, htmx: true, form: { amount: '6', description: 'first', idempotencyKey: key } })
      expect(changed.status).toBe(422)
      expect(changed.text).toContain('Your earlier order, with the values sent before, may have gone through: check your orders before submitting again.')
      expect(keyOf(changed.text)).not.toBe(key)
      expect(changed.text).toContain('<ul id="order-list" class="orders" hx-swap-oob="true">')
      expect(changed.text).toContain('5.00 EUR')
      expect((await sys.api('GET', '/api/orders', { user })).body.items).toHaveLength(1)
    } finally {
      await slow.stop()
    }
  })

  test('a definitive refusal gets a fresh key, and says why in money', async () => {
    const user = 'nearly-full'
    await sys.openAccount(user, 0)
    await sys.paymentsSql`update accounts set balance = 1000000000000000 - 1 where user_id = ${user}`
    const key = 'refused-top-up-key'
    const r = await page('POST', '/account/top-up', { user, htmx: true, form: { amount: '5', idempotencyKey: key } })
    expect(r.status).toBe(422)
    expect(r.text).toContain('This top-up would take the balance past the maximum of 10,000,000,000,000.00 EUR.')
    expect(keyOf(r.text)).toBeDefined()
    expect(keyOf(r.text)).not.toBe(key)
  })
})

describe('amounts as people type them', () => {
  test('a top-up of “12,50” adds 12.50 EUR, which the shopper sees', async () => {
    const user = 'comma'
    await sys.openAccount(user, 0)
    const r = await page('POST', '/account/top-up', { user, htmx: true, form: { amount: '12,50' } })
    expect(r.status).toBe(200)
    expect(r.text).toContain('<strong id="account-balance">12.50 EUR</strong>')
    expect(r.text).toContain('Balance <strong>12.50 EUR</strong>')
    expect(r.text).toContain('+12.50 EUR')
    expect(await sys.balance(user)).toBe(1250)
    expect(r.text).toContain('<p class="notice" role="status">Added 12.50 EUR. Your balance is now 12.50 EUR.</p>')
    for (const [amount, message] of [
      ['1,250', 'Unclear: is that 1250 or 1,250? For 1250, write it without a separator; amounts have at most two decimals.'],
      ['$5', 'Amounts are in EUR'],
      ['10000000000.01', 'The amount can be at most 10,000,000,000.00 EUR.'],
    ]) {
      const refused = await page('POST', '/account/top-up', { user, htmx: true, form: { amount: amount! } })
      expect(refused.status).toBe(422)
      expect(refused.text).toContain(`<p class="field-error" id="top-up-amount-error">${message}`)
    }
    const plain = await page('POST', '/account/top-up', { user, form: { amount: '€1.250,00' } })
    expect(plain.status).toBe(303)
    expect(plain.headers.get('location')).toBe('/account?topped-up=1')
    expect((await page('GET', '/account?topped-up=1', { user })).text).toContain('<p class="notice" role="status">Your top-up was added')
    expect(await sys.balance(user)).toBe(1250 + 125000)
    const account = await page('GET', '/account', { user })
    expect(account.text).toContain('<strong id="account-balance">1,262.50 EUR</strong>')
    expect(account.text).toContain('Top up (EUR)')
  })
})

describe('pages tell the truth when a service does not answer', () => {
  /** A service that takes connections and never answers (frozen, or a link that went dead). */
  async function blackHole() {
    const held: { end(): void }[] = []
    const listener = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { open: (socket) => void held.push(socket), data() {} } })
    return {
      url: `http://127.0.0.1:${listener.port}`,
      stop: () => {
        for (const s of held) s.end()
        listener.stop(true)
      },
    }
  }

  test('payments silent: /account says within the page read timeout that it could not load, offers a retry, and never “no account”', async () => {
    await sys.openAccount('frank', 4200)
    const silent = await blackHole()
    const gateway = await sys.startAnotherGateway({ payments: { name: 'payments', baseUrl: silent.url }, upstreamTimeoutMs: 10_000, pageReadTimeoutMs: 1_000 })
    try {
      const started = performance.now()
      const account = await page('GET', '/account', { user: 'frank', via: gateway })
      expect(performance.now() - started).toBeLessThan(3_000)
      expect(account.status).toBe(502)
      expect(account.text).toContain('Your account could not be loaded just now: the payments service did not answer.')
      expect(account.text).toContain('<a href="/account">Try again</a>')
      expect(account.text).toContain('Balance unavailable')
      expect(account.text).not.toContain('You have no account yet')
      expect(account.text).not.toContain('Open account')
      expect(account.text.toLowerCase()).not.toContain('nothing was changed')

      // The orders page still shows the orders; only the balance is unknown, and says so.
      await sys.createOrder('frank', 10)
      const orders = await page('GET', '/orders', { user: 'frank', via: gateway })
      expect(orders.status).toBe(200)
      expect(orders.text).toContain('Balance unavailable')
      expect(orders.text).toMatch(/class="order"/)
    } finally {
      await gateway.stop()
      silent.stop()
    }
  })

  test('orders silent: the orders page and an order page say they could not load, with a retry', async () => {
    const id = await sys.createOrder('frank', 11)
    const silent = await blackHole()
    const gateway = await sys.startAnotherGateway({ orders: { name: 'orders', baseUrl: silent.url }, upstreamTimeoutMs: 10_000, pageReadTimeoutMs: 1_000 })
    try {
      const list = await page('GET', '/orders', { user: 'frank', via: gateway })
      expect(list.text).toContain('Your orders could not be loaded just now: the orders service did not answer.')
      expect(list.text).toContain('<a href="/orders">Try again</a>')
      expect(list.text).not.toContain('No orders yet')
      const one = await page('GET', `/orders/${id}`, { user: 'frank', via: gateway })
      expect(one.status).toBe(502)
      expect(one.text).toContain('Orders unavailable')
    } finally {
      await gateway.stop()
      silent.stop()
    }
  })
})

describe('lists that go on', () => {
  const rowIds = (text: string) => [...text.matchAll(/<li id="order-([0-9a-f-]{36})"/g)].map((m) => m[1]!)
  const moreLink = (text: string) => /<p id="more-orders" class="more"><a href="([^"]+)"/.exec(text)?.[1]?.replaceAll('&amp;', '&')

  test('120 orders: 50 on the page, then “Show more” as a link (no JavaScript) and as an htmx append, until all are shown once', async () => {
    const created: string[] = []
    for (let i = 0; i < 120; i++) created.push(await sys.createOrder('pager', 100 + i, `order ${i}`))

    // Without JavaScript: page after page through the link.
    const seen: string[] = []
    let path: string | undefined = '/orders'
    const sizes: number[] = []
    while (path) {
      const r = await page('GET', path, { user: 'pager' })
      expect(r.status).toBe(200)
      sizes.push(rowIds(r.text).length)
      seen.push(...rowIds(r.text))
      if (path !== '/orders') expect(r.text).toContain('<a href="/orders">← Newest orders</a>')
      path = moreLink(r.text)
    }
    expect(sizes).toEqual([50, 50, 20])
    expect(seen).toEqual([...created].reverse())

    // With htmx: the pressed link asks for the next rows, which are appended; the next link takes its place.
    const first = await page('GET', '/orders', { user: 'pager' })
    const cursor = new URL(moreLink(first.text)!, 'http://x').searchParams.get('cursor')!
    const more = await page('GET', `/orders/more?cursor=${encodeURIComponent(cursor)}`, { user: 'pager', htmx: true })
    expect(more.text).toStartWith('<p id="more-orders" class="more">')
    expect(more.text).toContain('<ul hx-swap-oob="beforeend:#order-list">')
    expect(rowIds(more.text)).toEqual(seen.slice(50, 100))
    expect(first.text).toContain(`hx-get="/orders/more?cursor=${encodeURIComponent(cursor)}"`)

    // A cursor that is not one of ours: the newest orders, not an error page.
    const forged = await page('GET', '/orders?cursor=bm9wZQ', { user: 'pager' })
    expect([forged.status, rowIds(forged.text).length]).toEqual([200, 50])
  })

  test('the statement: 50 lines, then “Show more” until every line is shown once', async () => {
    await sys.openAccount('ledger-pager', 0)
    for (let i = 1; i <= 60; i++) {
      const r = await sys.api('POST', '/api/payments/account/top-up', { user: 'ledger-pager', body: { amount: i } })
      expect(r.status).toBe(200)
    }
    const lines = (text: string) => [...text.matchAll(/<tr id="entry-(\d+)"/g)].map((m) => Number(m[1]))
    const account = await page('GET', '/account', { user: 'ledger-pager' })
    expect(lines(account.text)).toHaveLength(50)
    const before = lines(account.text).at(-1)!
    expect(account.text).toContain(`<a href="/account?before=${before}"`)
    const next = await page('GET', `/account?before=${before}`, { user: 'ledger-pager' })
    expect(lines(next.text)).toHaveLength(10)
    expect(next.text).toContain('<p id="more-entries" hidden></p>')
    const appended = await page('GET', `/account/statement/more?before=${before}`, { user: 'ledger-pager', htmx: true })
    expect(appended.text).toContain('hx-swap-oob="beforeend:#statement"')
    expect(lines(appended.text)).toEqual(lines(next.text))
    expect(new Set([...lines(account.text), ...lines(next.text)]).size).toBe(60)
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
    expect(htmx.text).toContain('12.34 EUR')
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
      const olga = await sys.pageSession('olga')
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
      expect(text).toContain('We could not confirm your top-up yet: the payments service could not be reached.')
      // The form stays, for pressing again once payments is back.
      expect(text).toContain('id="top-up-form"')
    } finally {
      await another.stop()
    }
  })

  test('a new row that cannot read itself again (orders down) stays in the page and asks again later', async () => {
    const id = await sys.createOrder('olga', 10)
    const created = await page('POST', '/orders', { user: 'olga', htmx: true, form: { amount: '0.20', description: 'kept row' } })
    expect(created.text).toMatch(/hx-get="\/orders\/[0-9a-f-]+\/row" hx-trigger="load, every 3s"/)
    expect((await page('GET', `/orders/${id}/row`, { user: 'olga' })).text).toContain(`id="order-${id}"`)
    // An order that is not there (not the shopper's): the row goes.
    const missing = await page('GET', `/orders/${crypto.randomUUID()}/row`, { user: 'olga' })
    expect([missing.status, missing.text]).toEqual([200, ''])
    // A gateway whose orders service does not answer. htmx swaps every answer but 204 and 304: an error body would replace the row.
    const cutOff = await sys.startAnotherGateway({ orders: { name: 'orders', baseUrl: `http://127.0.0.1:${await freePort()}` } })
    try {
      const failed = await page('GET', `/orders/${id}/row`, { user: 'olga', via: cutOff })
      expect([failed.status, failed.text]).toEqual([204, ''])
    } finally {
      await cutOff.stop()
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

describe('what a browser is told with every page', () => {
  test('pages and fragments: scripts and styles from this origin only, no framing by others, nosniff, no referrer to other sites, never stored', async () => {
    const id = await sys.createOrder('olga', 10)
    const answers = [
      await page('GET', '/sign-in'),
      await page('GET', '/orders', { user: 'olga' }),
      await page('GET', '/account', { user: 'olga' }),
      await page('GET', `/orders/${id}`, { user: 'olga' }),
      await page('GET', `/orders/${id}/row`, { user: 'olga', htmx: true }),
      await page('GET', `/orders/${id}`, { user: 'mallory' }),
    ]
    for (const r of answers) {
      expect(r.headers.get('content-type')).toStartWith('text/html')
      const policy = r.headers.get('content-security-policy') ?? ''
      expect(policy).toContain("script-src 'self'")
      expect(policy).toContain("frame-ancestors 'none'")
      expect(policy).not.toContain('unsafe-inline')
      expect(r.headers.get('x-frame-options')).toBe('DENY')
      expect(r.headers.get('x-content-type-options')).toBe('nosniff')
      expect(r.headers.get('referrer-policy')).toBe('same-origin')
      expect(r.headers.get('cache-control')).toBe('no-store')
    }
    // The policy allows nothing inline, so the pages must carry none.
    for (const r of answers) {
      expect(r.text).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/)
      expect(r.text).not.toMatch(/\sstyle="|<style|\son[a-z]+="/)
    }
    const asset = await sys.gateway.app.handle(new Request('http://localhost/assets/page.js'))
    expect(asset.headers.get('x-content-type-options')).toBe('nosniff')
    // A page names its icon, so the browser does not ask for /favicon.ico (a 404 on every page).
    expect(answers[0]!.text).toContain('<link rel="icon" href="/assets/favicon.svg" type="image/svg+xml">')
    const icon = await sys.gateway.app.handle(new Request('http://localhost/assets/favicon.svg'))
    expect([icon.status, icon.headers.get('content-type')]).toEqual([200, 'image/svg+xml'])
  })

  test('a mistyped address in a browser is a page with a way back; API clients keep the JSON error', async () => {
    const browser = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' }
    const signedOut = await sys.gateway.app.handle(new Request('http://localhost/ordres', { headers: browser }))
    expect(signedOut.status).toBe(404)
    expect(signedOut.headers.get('content-type')).toStartWith('text/html')
    expect(signedOut.headers.get('content-security-policy')).toContain("frame-ancestors 'none'")
    const text = await signedOut.text()
    expect(text).toContain('<h1>Page not found</h1>')
    expect(text).toContain('href="/orders"')

    const session = await sys.pageSession('olga')
    const signedIn = await sys.gateway.app.handle(new Request('http://localhost/acount/top-up', { headers: { ...browser, cookie: session.cookie } }))
    expect(signedIn.status).toBe(404)
    expect(await signedIn.text()).toContain('id="current-user"') // the shopper's own top bar

    for (const request of [
      new Request('http://localhost/ordres', { headers: { accept: 'application/json' } }),
      new Request('http://localhost/ordres'),
      new Request('http://localhost/api/auth/nope', { headers: browser }),
      new Request('http://localhost/ordres', { method: 'POST', headers: browser }),
    ]) {
      const r = await sys.gateway.app.handle(request)
      expect(r.status).toBe(404)
      expect(await r.json()).toMatchObject({ error: 'not_found' })
    }
  })
})

// Live status: the JSON stream for API clients, the pages' fragment socket,
// user isolation, and fan-out across gateway instances through NATS.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { openSocket, UPGRADE_HEADERS } from '../support/socket'
import { startSystem, type TestSystem } from '../support/system'

let sys: TestSystem
beforeAll(async () => {
  // Payments starts paused so that orders stay NEW until a test lets them go.
  sys = await startSystem({ paymentsConsumer: false })
})
afterAll(() => sys.stop())

const wsUrl = (base: string, path: string) => `${base.replace('http', 'ws')}${path}`
const json = (m: string) => JSON.parse(m) as { orderId: string; status: string; reason: string | null; updatedAt: string }

describe('GET /api/orders/live (JSON)', () => {
  test('refuses a connection without a valid bearer token', async () => {
    const response = await fetch(`${sys.gateway.url}/api/orders/live`, {
      headers: UPGRADE_HEADERS,
    })
    expect(response.status).toBe(401)
    expect((await response.json()).error).toBe('unauthorized')
  })

  test('sends the NEW orders on connect, then each change, and only the caller’s', async () => {
    await sys.openAccount('liv', 1000)
    await sys.openAccount('other', 1000)
    const waiting = [await sys.createOrder('liv', 100), await sys.createOrder('liv', 5000)]
    const foreign = await sys.createOrder('other', 100)

    const socket = await openSocket(wsUrl(sys.gateway.url, '/api/orders/live'), sys.bearer('liv'))
    const snapshot = await Promise.all(waiting.map((id) => socket.waitFor((m) => json(m).orderId === id)))
    for (const m of snapshot) expect(json(m)).toMatchObject({ status: 'NEW', reason: null })

    sys.payments.consumer.start()
    const paid = json(await socket.waitFor((m) => json(m).orderId === waiting[0] && json(m).status !== 'NEW'))
    const refused = json(await socket.waitFor((m) => json(m).orderId === waiting[1] && json(m).status !== 'NEW'))
    expect(paid).toMatchObject({ status: 'FINISHED', reason: null })
    expect(refused).toMatchObject({ status: 'CANCELLED', reason: 'insufficient_funds' })
    expect(Object.keys(paid).sort()).toEqual(['orderId', 'reason', 'status', 'updatedAt'])

    // The other user's order was paid too, but never reached this socket: a later order of the
    // caller's, announced after it on the same path, arrives, and the foreign one did not before it.
    expect((await sys.waitForFinal('other', foreign)).status).toBe('FINISHED')
    const marker = await sys.createOrder('liv', 1)
    expect(json(await socket.waitFor((m) => json(m).orderId === marker && json(m).status !== 'NEW'))).toMatchObject({ status: 'FINISHED' })
    expect(socket.messages.map(json).some((m) => m.orderId === foreign)).toBe(false)
    socket.close()
  })
})

describe('the pages’ socket', () => {
  test('needs the sign-in cookie', async () => {
    const response = await fetch(`${sys.gateway.url}/ws`, {
      headers: UPGRADE_HEADERS,
    })
    expect(response.status).toBe(401)
  })

  test('pushes the order fragment and the balance, out of band, through any gateway instance', async () => {
    const other = await sys.startAnotherGateway()
    sys.payments.consumer.start()
    try {
      await sys.openAccount('pat', 1000)
      const cookie = { cookie: (await sys.pageSession('pat')).cookie }
      // Two tabs on two gateway instances, one more shopper elsewhere.
      const tab1 = await openSocket(wsUrl(sys.gateway.url, '/ws'), cookie)
      const tab2 = await openSocket(wsUrl(other.url, '/ws'), cookie)
      const stranger = await openSocket(wsUrl(other.url, '/ws'), { cookie: (await sys.pageSession('stranger')).cookie })
      for (const tab of [tab1, tab2]) await tab.waitFor((m) => m.includes('id="balance"') && m.includes('10.00 EUR'))

      const id = await sys.createOrder('pat', 250)
      const pushed = (m: string) => m.includes(`id="order-${id}"`) && m.includes('data-status="FINISHED"')
      const [one, two] = await Promise.all([tab1.waitFor(pushed), tab2.waitFor(pushed)])
      for (const m of [one, two]) {
        expect(m).toContain('hx-swap-oob="true"')
        expect(m).toMatch(/id="balance"[^>]*>Balance <strong>7\.50 EUR<\/strong>/)
        expect(m).toContain('<span class="amount">2.50 EUR</span>')
      }
      // The stranger's socket (on the gateway that pushed to tab2) works: its own order, placed
      // after pat's was pushed, reaches it; pat's did not, before or since.
      await sys.openAccount('stranger', 100)
      const own = await sys.createOrder('stranger', 1)
      await stranger.waitFor((m) => m.includes(`id="order-${own}"`) && m.includes('data-status="FINISHED"'))
      expect(stranger.messages.some((m) => m.includes(id))).toBe(false)
      for (const s of [tab1, tab2, stranger]) s.close()
    } finally {
      await other.stop()
    }
  })

  test('a reconnecting page gets the current state of what it shows', async () => {
    sys.payments.consumer.start()
    await sys.openAccount('ria', 1000)
    const id = await sys.createOrder('ria', 100)
    await sys.waitForFinal('ria', id)
    // The page was rendered while the order was NEW; its socket (re)connects now.
    const socket = await openSocket(wsUrl(sys.gateway.url, `/ws?order=${id}`), { cookie: (await sys.pageSession('ria')).cookie })
    const snapshot = await socket.waitFor((m) => m.includes(`id="order-${id}"`))
    expect(snapshot).toContain('data-status="FINISHED"')
    expect(snapshot).toContain('9.00 EUR')
    expect(snapshot).toContain('<span class="amount">1.00 EUR</span>')
    socket.close()
  })

  test('shutting the gateway down closes sockets with 1001, which htmx reconnects after', async () => {
    const other = await sys.startAnotherGateway()
    const socket = await openSocket(wsUrl(other.url, '/ws'), { cookie: (await sys.pageSession('pat')).cookie })
    await socket.waitFor((m) => m.includes('id="balance"'))
    await other.stop()
    expect((await socket.closed).code).toBe(1001)
  })
})

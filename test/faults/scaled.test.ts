// Kill tests with two instances of every service on a three-node JetStream
// cluster, HAProxy in front of the gateways and of each service (as `bun
// start -- --scale 2` runs it), under a stream of orders placed through the
// shop's public API and with shoppers' pages open in real browsers:
//   a. the node leading the payment requests stream SIGKILLed, restarted later;
//   b. one orders and one payments instance SIGKILLed mid-stream;
//   c. one gateway SIGKILLed behind HAProxy;
//   d. one NATS node frozen (SIGSTOP: its routes fall silent, a partition of
//      one node) for longer than the consumers' ack wait.
// After each: every order the clients were told about exists exactly once (a
// client whose request failed retried it with the same Idempotency-Key), is
// final and paid at most once; the reconciliation finds nothing; every page
// shows every final status and the balance, without a reload.
import { afterEach, expect, test } from 'bun:test'
import { type Browser, chromium, expect as expectPage, type Page } from '@playwright/test'
import { PASSWORD, placeOrder, signUp } from '../../e2e/shopper'
import { CONSUMERS } from '../../shared/messaging/contracts'
import { placedMore as placedMoreWithin, report, startFaultSystem } from './harness'

type System = Awaited<ReturnType<typeof startFaultSystem>>
let sys: System | undefined
let browser: Browser | undefined
afterEach(async () => {
  await browser?.close()
  await sys?.stop()
  sys = browser = undefined
})

const SHOPPERS = 4
const PAGES = 2
const TOP_UP = 200_00

type Shopper = { name: string; token: string }

async function scaledSystem() {
  const s = await startFaultSystem({}, { natsNodes: 3 })
  sys = s // stopped by afterEach even if what follows fails
  const lb = await s.balance({ orders: ['orders', 'orders-2'], payments: ['payments', 'payments-2'], gateway: ['a', 'b'] })
  // Both instances of a service start at once: their migrations take turns (an advisory lock).
  await Promise.all([s.start('orders'), s.startInstance('orders', 'orders-2'), s.start('payments'), s.startInstance('payments', 'payments-2')])
  await Promise.all([s.startGateway('a'), s.startGateway('b')])
  for (const [backend, server] of [
    ['orders', 'orders'],
    ['orders', 'orders-2'],
    ['payments', 'payments'],
    ['payments', 'payments-2'],
    ['gateway', 'a'],
    ['gateway', 'b'],
  ] as const) {
    await lb.haproxy.waitFor(backend, server, 'up')
  }
  return { s, lb, shop: lb.url }
}

async function api(shop: string, method: string, path: string, token: string | undefined, body?: unknown, key?: string) {
  const response = await fetch(`${shop}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(key ? { 'idempotency-key': key } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  })
  return { status: response.status, body: (await response.json().catch(() => undefined)) as Record<string, unknown> | undefined }
}

/** Shoppers signed up on the page (the first PAGES keep theirs open), each with an API token and a topped-up account. */
async function shoppers(shop: string): Promise<{ all: Shopper[]; pages: Page[] }> {
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium' })
  const all: Shopper[] = []
  const pages: Page[] = []
  for (let i = 0; i < SHOPPERS; i++) {
    const name = `scaled${i}`
    const page = await (await browser.newContext()).newPage()
    await signUp(page, shop, name)
    const token = (await api(shop, 'POST', '/api/auth/token', undefined, { username: name, password: PASSWORD })).body!.accessToken as string
    expect((await api(shop, 'POST', '/api/payments/account', token)).status).toBeLessThan(300)
    expect((await api(shop, 'POST', '/api/payments/account/top-up', token, { amount: TOP_UP }, crypto.randomUUID())).status).toBe(200)
    all.push({ name, token })
    if (i < PAGES) {
      await page.goto(`${shop}/orders`)
      await page.evaluate(() => Object.assign(window, { gozonMark: 42 }))
      pages.push(page)
    } else await page.context().close()
  }
  return { all, pages }
}

/**
 * Clients placing orders through the shop's API until stopped. Each order is
 * one intent with one Idempotency-Key: when the answer is lost (connection
 * reset, 502/503 while an instance dies), the client sends the same request
 * again with the same key until it gets a definitive answer.
 */
function orderStream(shop: string, all: Shopper[]) {
  let running = true
  const created = new Map<string, string>() // order id -> shopper name
  let retries = 0
  const place = async (shopper: Shopper) => {
    const key = crypto.randomUUID()
    // Some orders cost more than the shopper has left: they are CANCELLED, not charged.
    const amount = 100 + Math.floor(Math.random() * 900)
    // A claim left by an instance that died is taken over after 30 s (shared/http/idempotency.ts).
    const deadline = Date.now() + 60_000
    while (Date.now() < deadline) {
      try {
        const r = await api(shop, 'POST', '/api/orders', shopper.token, { amount }, key)
        if (r.status === 201) return void created.set(r.body!.id as string, shopper.name)
        if (r.status < 500 && r.status !== 409) throw new Error(`order refused: ${r.status} ${JSON.stringify(r.body)}`)
      } catch (error) {
        if (error instanceof Error && error.message.startsWith('order refused')) throw error
      }
      retries += 1
      await Bun.sleep(250)
    }
    throw new Error('an order was never answered in 60 s')
  }
  // Two clients per shopper, so that a kill meets requests in flight.
  const done = Promise.all(
    [...all, ...all].map(async (shopper) => {
      while (running) {
        await place(shopper)
        await Bun.sleep(30)
      }
    }),
  )
  return {
    placed: () => created.size,
    async stop() {
      running = false
      await done
      return { created, retries }
    },
  }
}

/** With two instances of everything on two cores, orders come more slowly: 30 s for each step. */
const placedMore = (placed: () => number, more: number, when: string) => placedMoreWithin(placed, more, when, 30_000)

/** Each open page places an order with its form (the shopper's click, while the fault may be on). */
async function clickOrders(pages: Page[], label: string) {
  await Promise.all(pages.map((page) => placeOrder(page, '1.00', `${label} click`)))
}

/** The checks after each fault: orders exactly once, money reconciled, pages right. */
async function verify(s: System, shop: string, all: Shopper[], pages: Page[], created: Map<string, string>): Promise<string> {
  const summary = await s.checkInvariants(60_000)
  // Exactly the orders the clients were told about (and the pages' two clicks each): none lost, none created twice by a retry.
  const [row] = await s.ordersSql`select count(*)::int as n from orders`
  expect(row!.n).toBe(created.size + 2 * pages.length)
  for (const [i, page] of pages.entries()) {
    const shopper = all[i]!
    const account = await api(shop, 'GET', '/api/payments/account', shopper.token)
    const balance = (Number(account.body!.balance) / 100).toFixed(2)
    await expectPage(page.locator('#order-list .order')).toHaveCount(2)
    await expectPage(page.locator('#order-list .badge[data-status="NEW"]')).toHaveCount(0, { timeout: 30_000 })
    await expectPage(page.locator('#balance')).toContainText(balance, { timeout: 30_000 })
    // The page was updated by pushes, not reloaded.
    expect(await page.evaluate(() => (window as unknown as { gozonMark?: number }).gozonMark)).toBe(42)
  }
  return summary
}

type Scaled = Awaited<ReturnType<typeof scaledSystem>>

/**
 * One kill test: the system, its shoppers and their stream of orders; a
 * click on each page before the fault and one while it is on; `fault`
 * strikes and returns what to report and how to heal (run once more orders
 * went through); then every check. Each step waits for orders to keep coming.
 */
async function underFault(label: string, fault: (system: Scaled) => Promise<{ what: string; heal?: () => Promise<void> }>) {
  const system = await scaledSystem()
  const { s, shop } = system
  const { all, pages } = await shoppers(shop)
  const stream = orderStream(shop, all)
  await placedMore(stream.placed, 30, 'before the fault')
  await clickOrders(pages, 'before')
  const { what, heal } = await fault(system)
  await clickOrders(pages, 'during')
  await placedMore(stream.placed, 30, 'during the fault')
  if (heal) {
    await heal()
    await placedMore(stream.placed, 20, 'after the fault healed')
  }
  const { created, retries } = await stream.stop()
  report(label, `${what}; ${created.size} orders from the API clients, ${retries} client retries; ${await verify(s, shop, all, pages, created)}`)
}

test('13a. N=2: the NATS node leading the payment requests stream SIGKILLed mid-stream, restarted later', async () => {
  await underFault('13a (N=2, NATS stream leader killed)', async ({ s }) => {
    const leader = await s.streamLeader(CONSUMERS.payments.stream)
    await s.stopNatsNode(leader, 'SIGKILL')
    return { what: `node ${leader + 1} was the leader`, heal: () => s.restartNatsNode(leader) }
  })
}, 180_000)

test('13b. N=2: one orders and one payments instance SIGKILLed mid-stream; the survivors take over', async () => {
  await underFault('13b (N=2, orders and payments instance killed)', async ({ s }) => {
    await Promise.all([s.killInstance('orders-2', 'SIGKILL'), s.killInstance('payments-2', 'SIGKILL')])
    return {
      what: 'orders-2 and payments-2 killed, restarted later',
      heal: async () => void (await Promise.all([s.startInstance('orders', 'orders-2'), s.startInstance('payments', 'payments-2')])),
    }
  })
}, 180_000)

test('13c. N=2: one gateway SIGKILLed behind HAProxy; clients retry with their keys, pages reconnect', async () => {
  await underFault('13c (N=2, gateway killed)', async ({ s, lb }) => {
    await s.killGateway('a', 'SIGKILL')
    return { what: 'gateway a killed', heal: () => lb.haproxy.waitFor('gateway', 'a', 'down') }
  })
}, 180_000)

test('13d. N=2: one NATS node frozen (SIGSTOP) longer than the ack wait, a partition of one node, then resumed', async () => {
  await underFault('13d (N=2, NATS node frozen)', async ({ s }) => {
    const leader = await s.streamLeader(CONSUMERS.orders.stream)
    const frozenAt = Date.now()
    s.natsNode(leader).process.kill('SIGSTOP')
    return {
      what: `node ${leader + 1}, the orders stream's leader, frozen 6 s`,
      heal: async () => {
        await Bun.sleep(Math.max(0, 6000 - (Date.now() - frozenAt))) // the consumers' ack wait is 1.5 s
        s.natsNode(leader).process.kill('SIGCONT')
      },
    }
  })
}, 180_000)

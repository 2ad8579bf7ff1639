// Fault scenario 10: a gateway instance is killed while shoppers have their
// pages open. Two real gateway processes sit behind HAProxy, set up as `bun
// start -- --scale N` sets it up (launcher/haproxy.ts); real browsers
// (Playwright, Debian's Chromium) hold the pages. The killed instance's
// sockets drop, htmx reconnects them through HAProxy to the other instance,
// which sends the current state and then the pushes: every page ends up
// showing the final status of every order, without a reload.
import { afterEach, expect, test } from 'bun:test'
// Playwright's own expect for pages: it retries until the page matches.
import { type Browser, chromium, expect as expectPage, type Page } from '@playwright/test'
import { placeOrder, signUp } from '../../e2e/shopper'
import { METRICS_SCRAPE } from '../support/system'
import { report, startFaultSystem } from './harness'

type System = Awaited<ReturnType<typeof startFaultSystem>>
let sys: System | undefined
let shop: string | undefined
let browser: Browser | undefined
afterEach(async () => {
  await browser?.close()
  await sys?.stop()
  sys = browser = shop = undefined
})

const SHOPPERS = 4

/** Live page sockets held by the gateway listening on `port` (its own /metrics). */
async function liveSockets(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { headers: METRICS_SCRAPE })).text()
  return Number(/^gozon_live_sockets(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1] ?? 0)
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await Bun.sleep(100)
  }
}

async function shopper(index: number): Promise<Page> {
  const context = await browser!.newContext()
  const page = await context.newPage()
  await signUp(page, shop!, `shopper${index}`)
  await page.getByRole('button', { name: 'Open account' }).click()
  await page.getByLabel('Top up').fill('10.00')
  await page.getByRole('button', { name: 'Add money' }).click()
  await expectPage(page.locator('#account-balance')).toHaveText('10.00 EUR')
  await page.goto(`${shop!}/orders`)
  return page
}

test('10. a gateway instance killed while shoppers are connected: pages reconnect to the other and show the final status', async () => {
  sys = await startFaultSystem()
  await sys.start('orders')
  await sys.start('payments')
  const lb = await sys.balance({ gateway: ['a', 'b'] })
  shop = lb.url
  const port = { a: await sys.startGateway('a'), b: await sys.startGateway('b') }
  await lb.haproxy.waitFor('gateway', 'a', 'up')
  await lb.haproxy.waitFor('gateway', 'b', 'up')
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium' })

  const pages = await Promise.all(Array.from({ length: SHOPPERS }, (_, i) => shopper(i)))
  // Payments frozen: the orders stay NEW while their pages watch them.
  sys.signal('payments', 'SIGSTOP')
  const rows = []
  for (const page of pages) {
    rows.push({ page, paid: await placeOrder(page, '4.00', 'Affordable'), refused: await placeOrder(page, '20.00', 'Too dear') })
  }
  for (const row of rows) await expectPage(row.paid.locator('.badge')).toHaveAttribute('data-status', 'NEW')
  // HAProxy spreads the pages' sockets over both instances (leastconn).
  await waitFor('every page socket on a gateway', async () => (await liveSockets(port.a)) + (await liveSockets(port.b)) >= SHOPPERS)
  const [victim, survivor] = (await liveSockets(port.a)) >= (await liveSockets(port.b)) ? (['a', 'b'] as const) : (['b', 'a'] as const)
  const dropped = await liveSockets(port[victim])
  expect(dropped).toBeGreaterThan(0)
  for (const page of pages) await page.evaluate(() => Object.assign(window, { gozonMark: 42 }))

  await sys.killGateway(victim, 'SIGKILL')
  sys.signal('payments', 'SIGCONT')

  for (const { page, paid, refused } of rows) {
    await expectPage(paid.locator('.badge')).toHaveAttribute('data-status', 'FINISHED', { timeout: 30_000 })
    await expectPage(refused.locator('.badge')).toHaveAttribute('data-status', 'CANCELLED', { timeout: 30_000 })
    await expectPage(page.locator('#balance')).toContainText('6.00')
    // Pushed into the open page, not shown by a reload.
    expect(await page.evaluate(() => (window as unknown as { gozonMark?: number }).gozonMark)).toBe(42)
  }
  // HAProxy's checks took the dead instance out; every page is on the survivor now.
  await lb.haproxy.waitFor('gateway', victim, 'down')
  expect(await liveSockets(port[survivor])).toBeGreaterThanOrEqual(SHOPPERS)
  report(
    '10 (gateway killed under open pages, behind HAProxy)',
    `${dropped} of ${SHOPPERS} pages were on the killed gateway and reconnected through HAProxy; every page shows every final status; ${await sys.checkInvariants()}`,
  )
}, 120_000)

// `bun start` as people run it, its processes SIGKILLed one after the other
// under a stream of orders and with a shopper's page open: payments, orders,
// the gateway, nats-server and the embedded PostgreSQL each come back by
// themselves within seconds (launcher/supervisor.ts); every order ends final,
// each balance is its top-up less its paid orders, the reconciliation finds
// nothing, and the page, never reloaded, shows the final status of every
// order clicked on it before and after each kill. Then payments is killed
// until the launcher gives up on it: /health and the Operations page say it
// is down, and the rest of the shop carries on.
import { expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, expect as expectPage } from '@playwright/test'
import { placeOrder as clickOrder, PASSWORD, signUp } from '../../e2e/shopper'
import { type LaunchState, spawnGozon } from '../../launcher/spawn'
import { type ApiShopper, apiShopper, fund, placeOrder, tokenFor } from '../support/shop-client'

const TOP_UP = 1_000_000

test('each process killed under a stream of orders comes back by itself; every order is final, the money and the reconciliation exact', async () => {
  const gozon = await spawnGozon()
  const base = gozon.state.gatewayUrl
  const state = () => JSON.parse(readFileSync(join(gozon.dataDir, 'state.json'), 'utf8')) as LaunchState
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium' })
  try {
    // The shopper whose page stays open on /orders throughout.
    const page = await (await browser.newContext()).newPage()
    await signUp(page, base, 'sup-page')
    await fund(base, await tokenFor(base, 'sup-page', PASSWORD), TOP_UP)
    await page.goto(`${base}/orders`)
    await page.evaluate(() => Object.assign(window, { gozonMark: 42 }))

    const clients = await Promise.all(['sup-ann', 'sup-bob', 'sup-cid'].map((name) => apiShopper(base, name, TOP_UP)))

    // A careful client: each order has its key and is sent again with it until it has a definitive answer.
    const placed: { client: ApiShopper; id: string; amount: number }[] = []
    let streaming = true
    let retries = 0
    const stream = (async () => {
      for (let n = 0; streaming; n++) {
        const client = clients[n % clients.length]!
        const amount = 1 + (n % 50)
        const id = await placeOrder(base, client.token, amount, () => {
          retries += 1
        })
        placed.push({ client, id, amount })
        await Bun.sleep(20)
      }
    })()

    const healthy = async (port: number | undefined) => {
      try {
        return (await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) })).status === 200
      } catch {
        return false
      }
    }
    const everythingHealthy = async () => {
      const answers = await Promise.all([gozon.ports.orders, gozon.ports.payments, gozon.ports.gateway].map((port) => healthy(port)))
      return answers.every(Boolean)
    }
    const victims: [string, () => number | undefined][] = [
      ['payments', () => state().pids.payments],
      ['orders', () => state().pids.orders],
      ['gateway', () => state().pids.gateway],
      ['nats-server', () => state().nats as number],
      ['postgres', () => state().postgres],
    ]
    const comeback: Record<string, number> = {}
    for (const [name, pidOf] of victims) {
      await Bun.sleep(1500) // orders flowing
      await clickOrder(page, '1.00', `before ${name}`)
      const before = placed.length
      const pid = pidOf()!
      process.kill(pid, 'SIGKILL')
      const killedAt = Date.now()
      // Back: a new process, and every service healthy again (their /health checks PostgreSQL and NATS).
      for (;;) {
        if (pidOf() !== pid && (await everythingHealthy())) break
        if (Date.now() - killedAt > 30_000) throw new Error(`${name} did not come back within 30 s:\n${gozon.output().slice(-3000)}`)
        await Bun.sleep(100)
      }
      comeback[name] = Date.now() - killedAt
      await clickOrder(page, '1.00', `after ${name}`)
      // Orders are placed again after it.
      for (let i = 0; placed.length < before + 10; i++) {
        if (i > 300) throw new Error(`no orders were placed after ${name} came back`)
        await Bun.sleep(100)
      }
    }
    streaming = false
    await stream

    // Every order final, each exactly once.
    const finals = new Map<string, string>()
    const deadline = Date.now() + 60_000
    for (const order of placed) {
      for (;;) {
        const response = await fetch(`${base}/api/orders/${order.id}`, { headers: { authorization: `Bearer ${order.client.token}` } })
        const { status } = (await response.json()) as { status: string }
        if (status !== 'NEW') {
          finals.set(order.id, status)
          break
        }
        if (Date.now() > deadline) throw new Error(`order ${order.id} still NEW a minute after the last restart`)
        await Bun.sleep(200)
      }
    }
    expect([...finals.values()].every((s) => s === 'FINISHED')).toBe(true)
    for (const client of clients) {
      const paid = placed.filter((o) => o.client === client).reduce((sum, o) => sum + o.amount, 0)
      const account = (await (await fetch(`${base}/api/payments/account`, { headers: { authorization: `Bearer ${client.token}` } })).json()) as {
        balance: number
      }
      expect(account.balance).toBe(TOP_UP - paid)
    }
    const reconcile = Bun.spawnSync(['bun', join(import.meta.dir, '..', '..', 'launcher', 'reconcile.ts')], {
      env: { ...process.env, DATABASE_URL: '', ORDERS_DATABASE_URL: '', PAYMENTS_DATABASE_URL: '', EMBEDDED_POSTGRES_PORT: String(gozon.ports.postgres) },
    })
    expect({ exit: reconcile.exitCode, out: reconcile.stdout.toString().trim().split('\n').at(-1) }).toMatchObject({ exit: 0 })
    // The launcher said what happened to each.
    for (const [name] of victims) expect(gozon.output()).toContain(`${name} exited unexpectedly; restarting it`)
    // The open page shows every order it placed as final, and the balance after them, by pushes alone.
    await expectPage(page.locator('#order-list .order')).toHaveCount(2 * victims.length)
    await expectPage(page.locator('#order-list .badge[data-status="NEW"]')).toHaveCount(0, { timeout: 30_000 })
    await expectPage(page.locator('#order-list .badge[data-status="FINISHED"]')).toHaveCount(2 * victims.length)
    await expectPage(page.locator('#balance')).toHaveAttribute('data-minor', String(TOP_UP - 100 * 2 * victims.length), { timeout: 30_000 })
    expect(await page.evaluate(() => (window as unknown as { gozonMark?: number }).gozonMark)).toBe(42)

    // Payments killed again and again: after more than 5 exits within a minute the launcher gives up on it.
    const givenUp = 'payments exited 6 times within 60 s; not restarting it again'
    for (let kills = 0; !gozon.output().includes(givenUp); kills++) {
      if (kills > 10) throw new Error(`the launcher never gave up on payments:\n${gozon.output().slice(-3000)}`)
      const pid = state().pids.payments!
      process.kill(pid, 'SIGKILL')
      for (let i = 0; state().pids.payments === pid && !gozon.output().includes(givenUp); i++) {
        if (i > 300) throw new Error('payments was neither restarted nor given up on within 30 s')
        await Bun.sleep(100)
      }
    }
    const health = await fetch(`${base}/health`)
    expect(health.status).toBe(503)
    expect(((await health.json()) as { details?: Record<string, string> }).details).toMatchObject({ payments: 'down', orders: 'up' })
    await page.goto(`${base}/operations`)
    await expectPage(page.locator('#ops-payments')).toContainText('The payments service did not answer.')
    await expectPage(page.locator('#ops-orders')).toContainText('Outbox backlog')
    // The rest carries on: the shop takes an order (it waits, NEW, for payments).
    await page.goto(`${base}/orders`)
    const waiting = await clickOrder(page, '1.00', 'while payments is given up')
    await expectPage(waiting.locator('.badge')).toHaveAttribute('data-status', 'NEW')
    console.log(
      `supervision: ${placed.length} orders, all FINISHED, ${retries} client retries; back after ${Object.entries(comeback)
        .map(([n, ms]) => `${n} ${(ms / 1000).toFixed(1)} s`)
        .join(', ')}`,
    )
  } finally {
    await browser.close()
    expect(await gozon.stop()).toBe(0)
  }
}, 300_000)

// `bun start` as people run it, its processes SIGKILLed one after the other
// under a stream of orders: payments, orders, the gateway, nats-server and the
// embedded PostgreSQL each come back by themselves within seconds
// (launcher/supervisor.ts); every order ends final, each balance is its
// top-up less its paid orders, and the reconciliation finds nothing.
import { expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { type LaunchState, spawnGozon } from '../../launcher/spawn'

const TOP_UP = 1_000_000

type Client = { token: string; userId: string }

test('each process killed under a stream of orders comes back by itself; every order is final, the money and the reconciliation exact', async () => {
  const gozon = await spawnGozon()
  const base = gozon.state.gatewayUrl
  const state = () => JSON.parse(readFileSync(join(gozon.dataDir, 'state.json'), 'utf8')) as LaunchState
  const json = { 'content-type': 'application/json' }
  try {
    const clients: Client[] = []
    for (const name of ['sup-ann', 'sup-bob', 'sup-cid']) {
      const credentials = JSON.stringify({ username: name, password: 'correct horse battery' })
      const user = (await (await fetch(`${base}/api/auth/users`, { method: 'POST', headers: json, body: credentials })).json()) as { id: string }
      const { accessToken } = (await (await fetch(`${base}/api/auth/token`, { method: 'POST', headers: json, body: credentials })).json()) as {
        accessToken: string
      }
      const auth = { ...json, authorization: `Bearer ${accessToken}` }
      await fetch(`${base}/api/payments/account`, { method: 'POST', headers: auth })
      await fetch(`${base}/api/payments/account/top-up`, { method: 'POST', headers: auth, body: JSON.stringify({ amount: TOP_UP }) })
      clients.push({ token: accessToken, userId: user.id })
    }

    // A careful client: each order has its key and is sent again with it until it has a definitive answer.
    const placed: { client: Client; id: string; amount: number }[] = []
    let streaming = true
    let retries = 0
    const stream = (async () => {
      for (let n = 0; streaming; n++) {
        const client = clients[n % clients.length]!
        const amount = 1 + (n % 50)
        const key = crypto.randomUUID()
        for (;;) {
          try {
            const response = await fetch(`${base}/api/orders`, {
              method: 'POST',
              headers: { ...json, authorization: `Bearer ${client.token}`, 'idempotency-key': key },
              body: JSON.stringify({ amount }),
              signal: AbortSignal.timeout(15_000),
            })
            if (response.status === 201) {
              placed.push({ client, id: ((await response.json()) as { id: string }).id, amount })
              break
            }
          } catch {}
          retries += 1
          await Bun.sleep(100)
        }
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
    console.log(
      `supervision: ${placed.length} orders, all FINISHED, ${retries} client retries; back after ${Object.entries(comeback)
        .map(([n, ms]) => `${n} ${(ms / 1000).toFixed(1)} s`)
        .join(', ')}`,
    )
  } finally {
    expect(await gozon.stop()).toBe(0)
  }
}, 240_000)

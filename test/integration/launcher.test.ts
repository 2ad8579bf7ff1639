// `bun start` as a user runs it: real processes, embedded PostgreSQL and
// nats-server in a throw-away data folder, one order paid end to end, then
// Ctrl-C (SIGINT) and a clean exit.
import { expect, test } from 'bun:test'
import { spawn } from 'node:child_process'
import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, portIsOpen } from '../../launcher/free-port'

test('bun start brings Gozon up, pays an order, and stops cleanly on Ctrl-C', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'gozon-launcher-'))
  chmodSync(dataDir, 0o755)
  const [pg, nats, gateway, orders, payments] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()])
  const child = spawn(process.execPath, ['launcher/start.ts'], {
    cwd: join(import.meta.dir, '..', '..'),
    env: {
      ...process.env,
      GOZON_DATA_DIR: dataDir,
      EMBEDDED_POSTGRES_PORT: String(pg),
      EMBEDDED_NATS_PORT: String(nats),
      GATEWAY_PORT: String(gateway),
      ORDERS_PORT: String(orders),
      PAYMENTS_PORT: String(payments),
      DATABASE_URL: '',
      NATS_URL: '',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (c) => (output += c))
  child.stderr.on('data', (c) => (output += c))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  try {
    const deadline = Date.now() + 60_000
    while (!output.includes('Gozon is up')) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`launcher did not come up:\n${output}`)
      await Bun.sleep(100)
    }
    expect(output).toContain(`http://127.0.0.1:${gateway}`)
    const base = `http://127.0.0.1:${gateway}`
    const user = { 'x-user-id': 'launch', 'content-type': 'application/json' }
    expect((await fetch(`${base}/api/payments/account`, { method: 'POST', headers: user })).status).toBe(201)
    await fetch(`${base}/api/payments/account/top-up`, { method: 'POST', headers: user, body: JSON.stringify({ amount: 500 }) })
    const order = await (await fetch(`${base}/api/orders`, { method: 'POST', headers: user, body: JSON.stringify({ amount: 200 }) })).json()
    let status = 'NEW'
    for (let i = 0; i < 200 && status === 'NEW'; i++) {
      await Bun.sleep(25)
      status = (await (await fetch(`${base}/api/orders/${order.id}`, { headers: user })).json()).status
    }
    expect(status).toBe('FINISHED')
    expect((await (await fetch(`${base}/api/payments/account`, { headers: user })).json()).balance).toBe(300)
    expect((await fetch(`${base}/api/orders/swagger`)).status).toBe(200)
    expect((await fetch(`${base}/api/payments/swagger`)).status).toBe(200)

    child.kill('SIGINT')
    expect(await exited).toBe(0)
    // Everything it started has stopped: the ports are free again.
    for (const port of [pg, nats, gateway, orders, payments]) expect(await portIsOpen(port)).toBe(false)
  } finally {
    child.kill('SIGKILL')
    rmSync(dataDir, { recursive: true, force: true })
  }
}, 90_000)

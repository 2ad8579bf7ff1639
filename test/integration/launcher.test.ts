// `bun start` as a user runs it: real processes, embedded PostgreSQL and
// nats-server in a throw-away data folder, one order paid end to end, then
// Ctrl-C (SIGINT) and a clean exit.
import { expect, test } from 'bun:test'
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import postgres from 'postgres'
import { portIsOpen } from '../../launcher/free-port'
import { spawnGozon } from '../../launcher/spawn'
import { DEFAULTS, defaultDatabaseUrl } from '../../shared/config'
import { STREAMS } from '../../shared/messaging/contracts'
import { infra } from '../support/infra'
import { METRICS_SCRAPE, TEST_METRICS_TOKEN } from '../support/system'

/** Signs up, opens an account with 5.00 and pays an order of 2.00 through the gateway at `base`. */
async function payOneOrder(base: string, username: string) {
  const json = { 'content-type': 'application/json' }
  const credentials = JSON.stringify({ username, password: 'correct horse battery' })
  expect((await fetch(`${base}/api/auth/users`, { method: 'POST', headers: json, body: credentials })).status).toBe(201)
  const { accessToken } = await (await fetch(`${base}/api/auth/token`, { method: 'POST', headers: json, body: credentials })).json()
  const user = { ...json, authorization: `Bearer ${accessToken}` }
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
}

test('bun start brings Gozon up, pays an order, and stops cleanly on Ctrl-C', async () => {
  const gozon = await spawnGozon()
  try {
    expect(gozon.output()).toContain(gozon.state.gatewayUrl)
    const base = gozon.state.gatewayUrl
    await payOneOrder(base, 'launch')
    expect((await fetch(`${base}/api/orders/swagger`)).status).toBe(200)
    expect((await fetch(`${base}/api/payments/swagger`)).status).toBe(200)
    expect((await fetch(`${base}/api/auth/swagger`)).status).toBe(200)
    expect((await fetch(`${base}/orders`, { redirect: 'manual' })).status).toBe(303)
    // The keys it generated are kept in the data folder, readable by its owner only.
    expect((statSync(join(gozon.dataDir, 'secrets.json')).mode & 0o777).toString(8)).toBe('600')
    // Each service is connected with its own role, to its own database only; none as the superuser.
    const admin = postgres(defaultDatabaseUrl('postgres', gozon.ports.postgres), { max: 1, onnotice: () => {} })
    try {
      const sessions = await admin<{ usename: string; datname: string }[]>`
        select distinct usename, datname from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid() order by 1`
      expect([...sessions]).toEqual([
        { usename: 'gozon_gateway', datname: 'gozon_identity' },
        { usename: 'gozon_orders', datname: 'gozon_orders' },
        { usename: 'gozon_payments', datname: 'gozon_payments' },
      ])
    } finally {
      await admin.end({ timeout: 5 })
    }
  } finally {
    expect(await gozon.stop()).toBe(0)
  }
  // Everything it started has stopped: the ports are free again.
  for (const port of Object.values(gozon.ports)) expect(await portIsOpen(port)).toBe(false)
}, 90_000)

test('EMBEDDED_NATS_NODES=3: a three-node JetStream cluster, streams with three replicas, an order paid; all stopped on Ctrl-C', async () => {
  const gozon = await spawnGozon({ env: { EMBEDDED_NATS_NODES: '3' } })
  const natsPorts = [0, 1, 2].map((i) => gozon.ports.nats + i)
  try {
    expect(gozon.state.nats).toHaveLength(3)
    await payOneOrder(gozon.state.gatewayUrl, 'cluster')
    const nc = await connect({ servers: natsPorts.map((p) => `nats://127.0.0.1:${p}`) })
    try {
      const jsm = await jetstreamManager(nc)
      for (const stream of Object.values(STREAMS)) expect((await jsm.streams.info(stream.name)).config.num_replicas).toBe(3)
    } finally {
      await nc.close()
    }
  } finally {
    expect(await gozon.stop()).toBe(0)
  }
  for (const port of natsPorts) expect(await portIsOpen(port)).toBe(false)
}, 90_000)

test('bun start -- --scale 2: two instances of each service behind HAProxy on the three-node cluster; one instance killed, the shop carries on; all stopped on Ctrl-C', async () => {
  const gozon = await spawnGozon({ args: ['--scale', '2'], env: { METRICS_TOKEN: TEST_METRICS_TOKEN } })
  const instancePorts = Object.values(gozon.state.ports ?? {})
  try {
    expect(Object.keys(gozon.state.pids).sort()).toEqual(['gateway-1', 'gateway-2', 'orders-1', 'orders-2', 'payments-1', 'payments-2'])
    expect(gozon.state.nats).toHaveLength(3)
    expect(gozon.state.haproxy).toBeGreaterThan(0)
    expect(gozon.output()).toContain('2 instances of each service behind HAProxy')
    await payOneOrder(gozon.state.gatewayUrl, 'scaled')
    // HAProxy spread the work: every instance answered requests.
    for (const name of ['orders-1', 'orders-2', 'payments-1', 'payments-2']) {
      const metrics = await (await fetch(`http://127.0.0.1:${gozon.state.ports![name]}/metrics`, { headers: METRICS_SCRAPE })).text()
      const answered = /^gozon_http_request_duration_seconds_count\{[^}]*route="\/api\/[^}]*\} [1-9]/m.test(metrics)
      expect({ instance: name, answeredApiRequests: answered }).toEqual({ instance: name, answeredApiRequests: true })
    }
    // Without the token, from this machine or through HAProxy: refused.
    expect((await fetch(`${gozon.state.gatewayUrl}/metrics`)).status).toBe(401)
    expect((await fetch(`http://127.0.0.1:${gozon.state.ports!['orders-1']}/metrics`)).status).toBe(401)
    // Payments frozen on both instances: HAProxy takes them out, but not the gateways (they check /health/live),
    // so the shop's pages and new orders still answer; the orders wait to be paid.
    for (const name of ['payments-1', 'payments-2']) process.kill(gozon.state.pids[name]!, 'SIGSTOP')
    await Bun.sleep(3500)
    expect((await fetch(`${gozon.state.gatewayUrl}/sign-in`)).status).toBe(200)
    for (const name of ['payments-1', 'payments-2']) process.kill(gozon.state.pids[name]!, 'SIGCONT')
    process.kill(gozon.state.pids['orders-2']!, 'SIGKILL')
    await Bun.sleep(2500) // HAProxy's checks: two failures a second apart
    await payOneOrder(gozon.state.gatewayUrl, 'survivor')
    // HAProxy routed around it meanwhile; the launcher starts it again (launcher/supervisor.ts).
    expect(gozon.output()).toContain('orders-2 exited unexpectedly; restarting it')
    // HAProxy itself, the shop's only door with --scale, comes back too.
    process.kill(gozon.state.haproxy!, 'SIGKILL')
    await Bun.sleep(1000)
    for (let i = 0; i < 100; i++) {
      const answer = await fetch(`${gozon.state.gatewayUrl}/sign-in`).catch(() => undefined)
      if (answer?.status === 200) break
      await Bun.sleep(200)
    }
    await payOneOrder(gozon.state.gatewayUrl, 'after-haproxy')
    expect(gozon.output()).toContain('haproxy exited unexpectedly; restarting it')
  } finally {
    expect(await gozon.stop()).toBe(0)
  }
  for (const port of [...Object.values(gozon.ports), ...instancePorts]) expect(await portIsOpen(port)).toBe(false)
}, 120_000)

test('OTEL_EXPORTER_OTLP_ENDPOINT: every process sends its spans over OTLP/HTTP, one order one trace across the three', async () => {
  // A collector of our own: keeps what the exporters POST to /v1/traces (OTLP JSON).
  const received: { service: string; traceId: string; name: string }[] = []
  const collector = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(request) {
      if (new URL(request.url).pathname !== '/v1/traces') return new Response('not here', { status: 404 })
      type Otlp = {
        resourceSpans: {
          resource: { attributes: { key: string; value: { stringValue?: string } }[] }
          scopeSpans: { spans: { traceId: string; name: string }[] }[]
        }[]
      }
      const body = (await request.json()) as Otlp
      for (const rs of body.resourceSpans) {
        const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '?'
        for (const ss of rs.scopeSpans) for (const span of ss.spans) received.push({ service, traceId: span.traceId, name: span.name })
      }
      return Response.json({})
    },
  })
  const gozon = await spawnGozon({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collector.port}`, OTEL_BSP_SCHEDULE_DELAY: '200' } })
  try {
    await payOneOrder(gozon.state.gatewayUrl, 'otlp')
    const expected = [
      'gateway POST /api/orders',
      'orders POST /api/orders',
      'orders publish gozon.payments.requested',
      'payments process gozon.payments.requested',
      'payments publish gozon.payments.succeeded',
      'orders process gozon.payments.succeeded',
    ]
    // Each process sends its batches on its own schedule: wait for the order's trace to be whole.
    const traceOf = () => {
      const last = received.find((s) => s.service === 'orders' && s.name === 'process gozon.payments.succeeded')
      return last ? received.filter((s) => s.traceId === last.traceId).map((s) => `${s.service} ${s.name}`) : []
    }
    for (let i = 0; i < 200 && !expected.every((e) => traceOf().includes(e)); i++) await Bun.sleep(100)
    // No page was open, so the last hop is orders' consumer.
    expect(traceOf()).toEqual(expect.arrayContaining(expected))
  } finally {
    expect(await gozon.stop()).toBe(0)
    collector.stop(true)
  }
}, 90_000)

test("DATABASE_URL names a server: the launcher provisions the roles there, and no service is given the administrator's URL", async () => {
  const { postgres: pg } = await infra()
  const gozon = await spawnGozon({ env: { DATABASE_URL: pg.url('postgres') } })
  try {
    await payOneOrder(gozon.state.gatewayUrl, 'external')
    const environment = (pid: number) =>
      Object.fromEntries(
        readFileSync(`/proc/${pid}/environ`, 'utf8')
          .split('\0')
          .filter(Boolean)
          .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
      )
    const urls = { orders: 'ORDERS_DATABASE_URL', payments: 'PAYMENTS_DATABASE_URL', gateway: 'GATEWAY_DATABASE_URL' } as const
    for (const [service, variable] of Object.entries(urls) as [keyof typeof urls, string][]) {
      const env = environment(gozon.state.pids[service]!)
      expect(env.DATABASE_URL).toBeUndefined()
      expect(new URL(env[variable]!).username).toBe(DEFAULTS.databaseRoles[service])
      // Nor another service's database, nor the gateway's keys.
      for (const other of Object.values(urls).filter((v) => v !== variable)) expect(env[other]).toBeUndefined()
      if (service !== 'gateway') expect(env.SESSION_SIGNING_KEY).toBeUndefined()
    }
  } finally {
    expect(await gozon.stop()).toBe(0)
  }
}, 90_000)

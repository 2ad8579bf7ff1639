// One owner per stream: each stream is declared and configured only by the
// service that publishes to it, so restarting the other service with other
// settings never flips it; a consumer whose stream is not there says so in
// one line, reports itself down on /health, and starts once the owner comes.
import { afterAll, expect, test } from 'bun:test'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import pino from 'pino'
import { ordersService } from '../../orders/app'
import { loadOrdersConfig } from '../../orders/config'
import { paymentsService } from '../../payments/app'
import { loadPaymentsConfig } from '../../payments/config'
import { startBackendService } from '../../shared/backend-service'
import { createLogger } from '../../shared/logger'
import { STREAMS } from '../../shared/messaging/contracts'
import { freshDatabaseUrl, freshNats } from '../support/infra'
import { randomKey } from '../support/system'

const stops: (() => Promise<unknown>)[] = []
afterAll(async () => {
  for (const stop of stops.reverse()) await stop()
})

/** Settings for an orders and a payments service on a nats-server and databases of their own. */
async function freshServicesEnv(): Promise<Record<string, string>> {
  const nats = await freshNats()
  stops.push(() => nats.stop())
  return {
    HOST: '127.0.0.1',
    NATS_URL: nats.url,
    ORDERS_PORT: '0',
    PAYMENTS_PORT: '0',
    ORDERS_DATABASE_URL: await freshDatabaseUrl('streams_orders'),
    PAYMENTS_DATABASE_URL: await freshDatabaseUrl('streams_payments'),
    IDENTITY_PROOF_KEY: randomKey(),
  }
}

/** A logger like the services' that keeps its lines, to read what a service said. */
function capturedLog(name: string) {
  const lines: { level: number; msg: string; stream?: string }[] = []
  const log = pino({ level: 'info', base: { service: name } }, { write: (line: string) => void lines.push(JSON.parse(line)) })
  return { log, lines }
}

test('a consumer whose stream does not exist says so once, is down on /health, and starts when the owner declares it', async () => {
  const env = await freshServicesEnv()
  const { log, lines } = capturedLog('payments')
  const payments = await startBackendService(paymentsService, loadPaymentsConfig(env), log)
  stops.push(() => payments.stop())
  // Payments declared its own stream only.
  const probe = await connect({ servers: env.NATS_URL })
  stops.push(() => probe.close())
  const jsm = await jetstreamManager(probe)
  expect((await jsm.streams.names().next()).sort()).toEqual([STREAMS.paymentResults.name])

  const deadline = Date.now() + 10_000
  while (!lines.some((l) => l.level === 50 && l.stream === STREAMS.paymentRequests.name) && Date.now() < deadline) await Bun.sleep(50)
  const said = lines.filter((l) => l.stream === STREAMS.paymentRequests.name)
  expect(said).toHaveLength(1)
  expect(said[0]!.msg).toBe(
    'stream GOZON_PAYMENT_REQUESTS does not exist on this NATS: it is declared by the orders service, which publishes to it; start orders against the same NATS_URL',
  )
  const health = await fetch(`${payments.url}/health`)
  expect(health.status).toBe(503)
  expect(((await health.json()) as { details: Record<string, string> }).details).toEqual({ database: 'up', nats: 'up', consumer: 'down' })

  const orders = await startBackendService(ordersService, loadOrdersConfig(env), createLogger('orders', 'silent'))
  stops.push(() => orders.stop())
  const ready = Date.now() + 10_000
  while (!payments.consumerReady() && Date.now() < ready) await Bun.sleep(20)
  expect(payments.consumerReady()).toBe(true)
  expect((await fetch(`${payments.url}/health`)).status).toBe(200)
  expect(lines.filter((l) => l.stream === STREAMS.paymentRequests.name)).toHaveLength(1)
})

test('restarting a service with other settings changes only the stream it owns', async () => {
  const env: Record<string, string> = { ...(await freshServicesEnv()), NATS_DUPLICATE_WINDOW_MS: '120000' }
  const silent = () => createLogger('x', 'silent')
  const orders = await startBackendService(ordersService, loadOrdersConfig(env), silent())
  stops.push(() => orders.stop())
  const payments = await startBackendService(paymentsService, loadPaymentsConfig(env), silent())
  await payments.stop()
  const restarted = await startBackendService(paymentsService, loadPaymentsConfig({ ...env, NATS_DUPLICATE_WINDOW_MS: '5000' }), silent())
  stops.push(() => restarted.stop())

  const probe = await connect({ servers: env.NATS_URL })
  stops.push(() => probe.close())
  const jsm = await jetstreamManager(probe)
  const window = async (name: string) => (await jsm.streams.info(name)).config.duplicate_window / 1e6
  expect(await window(STREAMS.paymentRequests.name)).toBe(120_000) // orders' stream: untouched by payments
  expect(await window(STREAMS.paymentResults.name)).toBe(5000) // payments' own: its new setting
})

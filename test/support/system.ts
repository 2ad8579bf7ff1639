// A whole Gozon for a test: fresh databases, its own nats-server, the orders
// and payments services started through the same wiring as main.ts (on port
// 0), and the gateway app. Plus the helpers the tests share.
import { expect } from 'bun:test'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection, headers as natsHeaders } from '@nats-io/transport-node'
import { startGateway } from '../../gateway/app'
import { openIdentityDatabase } from '../../gateway/auth/database'
import { loadGatewayConfig } from '../../gateway/config'
import { ordersService } from '../../orders/app'
import { loadOrdersConfig } from '../../orders/config'
import { paymentsService } from '../../payments/app'
import { loadPaymentsConfig } from '../../payments/config'
import { startBackendService } from '../../shared/backend-service'
import { LOG_LEVELS, type LogLevel } from '../../shared/config'
import { type Audience, bodyDigest, identityHeaders } from '../../shared/identity'
import { createLogger } from '../../shared/logger'
import { STREAMS, type Subject } from '../../shared/messaging/contracts'
import { freshNats, freshServiceDatabase, sqlClient } from './infra'

export type SystemOptions = {
  /** Extra environment for both services and the gateway (for example CONSUMER_ACK_WAIT_MS). */
  env?: Record<string, string>
  ordersRelay?: boolean
  ordersConsumer?: boolean
  paymentsConsumer?: boolean
}

const testLogLevel = (LOG_LEVELS as readonly string[]).includes(process.env.TEST_LOG_LEVEL ?? '') ? (process.env.TEST_LOG_LEVEL as LogLevel) : 'silent'

/** The scrape token of every test system's /metrics. */
export const TEST_METRICS_TOKEN = 'test-metrics-token-0123456789'
/** Headers of a /metrics scrape of a test system. */
export const METRICS_SCRAPE = { authorization: `Bearer ${TEST_METRICS_TOKEN}` }

export async function startSystem(options: SystemOptions = {}) {
  const nats = await freshNats()
  // Each with a role of its own, as `bun start` gives them.
  const ordersDb = await freshServiceDatabase('orders')
  const paymentsDb = await freshServiceDatabase('payments')
  const { url: identityDbUrl } = await freshServiceDatabase('identity')
  const [ordersDbUrl, paymentsDbUrl] = [ordersDb.url, paymentsDb.url]
  const env: Record<string, string> = {
    HOST: '127.0.0.1',
    NATS_URL: nats.url,
    ORDERS_PORT: '0',
    PAYMENTS_PORT: '0',
    ORDERS_DATABASE_URL: ordersDbUrl,
    PAYMENTS_DATABASE_URL: paymentsDbUrl,
    // Short enough that redelivery tests take a second, long enough for a slow CI.
    CONSUMER_ACK_WAIT_MS: '1500',
    RELAY_POLL_INTERVAL_MS: '200',
    // Tests that hammer one user are about money, not rates (limits.test.ts sets its own).
    RATE_LIMIT_BURST: '1000000',
    RATE_LIMIT_PER_SECOND: '1000000',
    // Fresh keys per system, as `bun start` makes them once per data folder.
    IDENTITY_PROOF_KEY: randomKey(),
    SESSION_SIGNING_KEY: randomKey(),
    GATEWAY_DATABASE_URL: identityDbUrl,
    // Cheap hashing and no sign-in limit, except where a test asks (auth.test.ts).
    PASSWORD_HASH_MEMORY_KIB: '256',
    PASSWORD_HASH_TIME_COST: '1',
    AUTH_ATTEMPTS_BURST: '1000000',
    AUTH_ATTEMPTS_PER_MINUTE: '1000000',
    METRICS_TOKEN: TEST_METRICS_TOKEN,
    ...options.env,
  }
  const orders = await startBackendService(ordersService, loadOrdersConfig(env), createLogger('orders', testLogLevel), {
    relay: options.ordersRelay,
    consumer: options.ordersConsumer,
  })
  const payments = await startBackendService(paymentsService, loadPaymentsConfig(env), createLogger('payments', testLogLevel), {
    consumer: options.paymentsConsumer,
  })
  // Each consumer starts pulling once the other service has declared the stream it reads.
  const started = [options.ordersConsumer !== false && orders, options.paymentsConsumer !== false && payments].filter((s) => s !== false)
  const deadline = Date.now() + 10_000
  while (!started.every((service) => service.consumerReady())) {
    if (Date.now() > deadline) throw new Error('a consumer did not start pulling within 10 s')
    await Bun.sleep(10)
  }
  const gatewayNc = await connect({ servers: nats.url })
  const gatewayConfig = loadGatewayConfig(env)
  const identityDb = await openIdentityDatabase(identityDbUrl)
  const gatewayDeps = {
    log: createLogger('gateway', testLogLevel),
    nc: gatewayNc,
    db: identityDb,
    orders: { name: 'orders' as const, baseUrl: orders.url },
    payments: { name: 'payments' as const, baseUrl: payments.url },
    upstreamTimeoutMs: 10_000,
    pageReadTimeoutMs: 2_000,
    bodyTimeoutMs: gatewayConfig.bodyTimeoutMs,
    currency: gatewayConfig.currency,
    auth: gatewayConfig.auth,
    metricsToken: gatewayConfig.metricsToken,
    trustedProxies: gatewayConfig.trustedProxies,
  }
  const gateway = startGateway(gatewayDeps, { hostname: '127.0.0.1', port: 0 })
  /**
   * Another gateway instance on the same services and NATS, as behind a load balancer;
   * `overrides` change its settings (say, orders behind a slow link and a short upstream timeout).
   */
  const startAnotherGateway = async (overrides: Partial<Omit<typeof gatewayDeps, 'nc'>> = {}) => {
    const nc = await connect({ servers: nats.url })
    const another = startGateway({ ...gatewayDeps, ...overrides, nc }, { hostname: '127.0.0.1', port: 0 })
    return {
      ...another,
      stop: async () => {
        await another.stop()
        await nc.close()
      },
    }
  }
  /** Another instance of a service on the same database and NATS, as behind a balancer (HTTP only: no relay, no consumer). */
  const startAnotherInstance = (name: 'orders' | 'payments') =>
    name === 'orders'
      ? startBackendService(ordersService, loadOrdersConfig(env), createLogger('orders', testLogLevel), { relay: false, consumer: false })
      : startBackendService(paymentsService, loadPaymentsConfig(env), createLogger('payments', testLogLevel), { relay: false, consumer: false })
  const ordersSql = sqlClient(ordersDb.adminUrl)
  const paymentsSql = sqlClient(paymentsDb.adminUrl)
  const probe: NatsConnection = await connect({ servers: nats.url })

  /**
   * A bearer token for `user` (used as the user id), signed as POST /api/auth/token signs one:
   * tests about orders and money need not pay for a sign-up each (auth.test.ts does the real thing).
   */
  function tokenFor(user: string): string {
    return gateway.auth.issueApiToken({ id: user, username: user }).token
  }

  /** The Authorization header of an API client signed in as `user`. */
  function bearer(user: string): { authorization: string } {
    return { authorization: `Bearer ${tokenFor(user)}` }
  }

  /** A signed-in browser of `user`: its Cookie header and the CSRF token its forms carry. */
  async function pageSession(user: string): Promise<{ cookie: string; csrf: string }> {
    const { token, sessionId, expiresAt } = gateway.auth.tokens.issue('session', { id: user, username: user }, 3600)
    await gateway.auth.sessions!.create(sessionId, user, expiresAt)
    const credential = gateway.auth.tokens.verify(token, 'session')
    if (typeof credential !== 'object') throw new Error('a fresh session token did not verify')
    return { cookie: `${gateway.auth.cookieName}=${token}`, csrf: gateway.auth.tokens.csrfToken(credential) }
  }

  /** Headers that prove `user` to a service directly for this one request, as the gateway would (shared/identity.ts). */
  function proofFor(user: string, audience: Audience, request: { method: string; path: string; body?: string }): Record<string, string> {
    return identityHeaders(gatewayConfig.auth.identity, audience, user, {
      method: request.method,
      pathAndQuery: request.path,
      bodyDigest: bodyDigest(request.body),
    })
  }

  /** Calls the public API through the gateway, as a client would; `user` is sent as a bearer token. */
  async function api(method: string, path: string, init: { user?: string; body?: unknown; headers?: Record<string, string> } = {}) {
    const headers: Record<string, string> = { ...init.headers }
    if (init.user !== undefined) headers.authorization = `Bearer ${tokenFor(init.user)}`
    let body: string | undefined
    if (init.body !== undefined) {
      body = typeof init.body === 'string' ? init.body : JSON.stringify(init.body)
      headers['content-type'] ??= 'application/json'
    }
    const response = await gateway.app.handle(new Request(`http://localhost${path}`, { method, headers, body }))
    const text = await response.text()
    // Loosely typed on purpose: each test asserts the exact shape it expects.
    // biome-ignore lint/suspicious/noExplicitAny: see above
    let json: any
    try {
      json = text ? JSON.parse(text) : undefined
    } catch {
      json = text
    }
    return { status: response.status, body: json, headers: response.headers }
  }

  async function openAccount(user: string, topUp = 0) {
    const created = await api('POST', '/api/payments/account', { user })
    expect([200, 201]).toContain(created.status)
    if (topUp > 0) expect((await api('POST', '/api/payments/account/top-up', { user, body: { amount: topUp } })).status).toBe(200)
  }

  async function createOrder(user: string, amount: number, description?: string): Promise<string> {
    const response = await api('POST', '/api/orders', { user, body: description === undefined ? { amount } : { amount, description } })
    expect(response.status).toBe(201)
    return response.body.id
  }

  /** Waits until the order leaves NEW, reading it through the API. */
  async function waitForFinal(user: string, orderId: string, timeoutMs = 15_000) {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const order = (await api('GET', `/api/orders/${orderId}`, { user })).body
      if (order.status !== 'NEW') return order
      if (Date.now() > deadline) throw new Error(`order ${orderId} still NEW after ${timeoutMs} ms`)
      await Bun.sleep(20)
    }
  }

  async function balance(user: string): Promise<number> {
    return (await api('GET', '/api/payments/account', { user })).body.balance
  }

  /** Publishes a raw message straight to JetStream, as a misbehaving or duplicating producer would. */
  async function publishRaw(subject: Subject | string, payload: unknown, msgID?: string) {
    const data = typeof payload === 'string' ? payload : JSON.stringify(payload)
    return jetstream(probe).publish(subject, data, { msgID, headers: natsHeaders() })
  }

  /** Waits until a durable consumer has nothing pending or unacknowledged. */
  async function waitForConsumerIdle(stream: string, durable: string, timeoutMs = 15_000) {
    const jsm = await jetstreamManager(probe)
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const info = await jsm.consumers.info(stream, durable)
      if (info.num_pending === 0 && info.num_ack_pending === 0) return info
      if (Date.now() > deadline) throw new Error(`consumer ${durable} not idle: ${info.num_pending} pending, ${info.num_ack_pending} unacked`)
      await Bun.sleep(25)
    }
  }

  async function streamMessages(stream: keyof typeof STREAMS): Promise<number> {
    const jsm = await jetstreamManager(probe)
    return (await jsm.streams.info(STREAMS[stream].name)).state.messages
  }

  async function stop() {
    await probe.close().catch(() => {})
    await gateway.stop()
    await gatewayNc.close().catch(() => {})
    await identityDb.$client.end({ timeout: 5 })
    await orders.stop()
    await payments.stop()
    await ordersSql.end({ timeout: 5 })
    await paymentsSql.end({ timeout: 5 })
    await nats.stop()
  }

  return {
    nats,
    orders,
    payments,
    gateway,
    startAnotherGateway,
    startAnotherInstance,
    env,
    ordersSql,
    paymentsSql,
    probe,
    identityDb,
    tokenFor,
    bearer,
    pageSession,
    proofFor,
    api,
    openAccount,
    createOrder,
    waitForFinal,
    balance,
    publishRaw,
    waitForConsumerIdle,
    streamMessages,
    stop,
  }
}

/** A key like the launcher's: 32 random bytes, base64url. */
export function randomKey(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')
}

export type TestSystem = Awaited<ReturnType<typeof startSystem>>

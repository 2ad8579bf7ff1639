// The fault-injection harness: real service processes (bun orders/main.ts,
// bun payments/main.ts, and bun gateway/main.ts instances when a scenario
// asks) on the test PostgreSQL and a nats-server of their own, which a
// scenario kills, restarts and starves; then the invariants.

import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { type Subprocess, spawn } from 'bun'
import { listenPort, waitForPort } from '../../launcher/free-port'
import { type Frontend, type RunningHaproxy, startHaproxy } from '../../launcher/haproxy'
import { type RunningCluster, type RunningNats, startNats, startNatsCluster } from '../../launcher/nats'
import { type RunningPostgres, startPostgres } from '../../launcher/postgres'
import { bodyDigest, signIdentity } from '../../shared/identity'
import { CONSUMERS } from '../../shared/messaging/contracts'
import { isTransient } from '../../shared/messaging/nats'
import { formatDiscrepancy, formatSummary } from '../../shared/reconcile/checks'
import { reconcile } from '../../shared/reconcile/read'
import { freshDatabaseUrl, infra, sqlClient, withOwnRole } from '../support/infra'
import { pollUntil } from '../support/poll'
import { METRICS_SCRAPE, randomKey, TEST_METRICS_TOKEN } from '../support/system'

const root = join(import.meta.dir, '..', '..')

export type ServiceName = 'orders' | 'payments'

/**
 * Waits until a service just spawned listens: longer than the service's own patience with a cluster electing its
 * stream leaders (ensureOwnStreams, 60 s), so that a service that gives up says why before the test does; a service
 * that exits meanwhile fails the wait at once.
 */
async function untilListening(child: Subprocess, port: number, name: string): Promise<void> {
  const exited = child.exited.then((code) => {
    throw new Error(`${name} exited (code ${code}) before it listened on port ${port}: its log is above`)
  })
  exited.catch(() => {})
  await Promise.race([waitForPort(port, 75_000), exited])
}

export async function startFaultSystem(env: Record<string, string> = {}, options: { ownPostgres?: boolean; natsNodes?: 1 | 3 } = {}) {
  const { root: tmp } = await infra()
  const natsPort = await listenPort()
  const natsDir = join(tmp, `fault-nats-${natsPort}`)
  // One nats-server, or a three-node JetStream cluster whose streams keep three replicas.
  let nats: RunningNats | undefined = options.natsNodes === 3 ? undefined : await startNats({ storeDir: natsDir, port: natsPort })
  const cluster: RunningCluster | undefined =
    options.natsNodes === 3
      ? await startNatsCluster({
          rootDir: natsDir,
          clientPorts: [natsPort, await listenPort(), await listenPort()],
          routePorts: [await listenPort(), await listenPort(), await listenPort()],
        })
      : undefined
  const natsUrl = cluster?.url ?? nats!.url
  // A PostgreSQL of its own, for scenarios that stop or freeze it.
  const pgPort = options.ownPostgres ? await listenPort() : 0
  const pgDir = join(tmp, `fault-pg-${pgPort}`)
  let pg: RunningPostgres | undefined = options.ownPostgres
    ? await startPostgres({ dataDir: pgDir, port: pgPort, user: 'gozon', password: 'gozon', settings: { fsync: 'off' } })
    : undefined
  // The administrator's URLs (for the harness's assertions) and, as `bun start` does, a role of its own per service.
  const adminUrls = pg
    ? { orders: pg.url('gozon_orders'), payments: pg.url('gozon_payments'), identity: pg.url('gozon_identity') }
    : { orders: await freshDatabaseUrl('forders'), payments: await freshDatabaseUrl('fpayments'), identity: await freshDatabaseUrl('fidentity') }
  const databases = { orders: await withOwnRole(adminUrls.orders), payments: await withOwnRole(adminUrls.payments) }
  const identityDatabase = await withOwnRole(adminUrls.identity)
  const ports = { orders: await listenPort(), payments: await listenPort() }
  const processes: Partial<Record<ServiceName, Subprocess>> = {}
  // More instances of a service ("orders-2"), beside the first one (processes, ports).
  const instances = new Map<string, { kind: ServiceName; port: number; process?: Subprocess }>()
  // HAProxy in front of the instances (balance()); the harness's calls and the gateways then go through it.
  let haproxy: RunningHaproxy | undefined
  const front: Partial<Record<ServiceName | 'gateway', number>> = {}
  // The harness calls the services directly, proving the caller as the gateway would.
  const identityProofKey = randomKey()
  const baseEnv = {
    IDENTITY_PROOF_KEY: identityProofKey,
    METRICS_TOKEN: TEST_METRICS_TOKEN,
    ...process.env,
    HOST: '127.0.0.1',
    NATS_URL: natsUrl,
    ...(cluster ? { NATS_STREAM_REPLICAS: '3' } : {}),
    // Errors only (an unhandled error is then in the test output next to the failure it causes).
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error',
    CONSUMER_ACK_WAIT_MS: '1500',
    RELAY_GRACE_MS: '300',
    RELAY_POLL_INTERVAL_MS: '100',
    RATE_LIMIT_BURST: '1000000',
    RATE_LIMIT_PER_SECOND: '1000000',
    ...env,
  }

  const gateways = new Map<string, { port: number; process: Subprocess }>()
  // Ports promised to gateways not started yet (balance() names them to HAProxy first).
  const gatewayPorts = new Map<string, number>()
  const sessionSigningKey = randomKey()

  /** Starts (or restarts, on the same port) gateway instance `name` in front of the services; returns its port. */
  async function startGateway(name: string): Promise<number> {
    const port = gateways.get(name)?.port ?? gatewayPorts.get(name) ?? (await listenPort())
    const child = spawn(['bun', join(root, 'gateway', 'main.ts')], {
      env: {
        ...baseEnv,
        GATEWAY_PORT: String(port),
        ORDERS_URL: `http://127.0.0.1:${front.orders ?? ports.orders}`,
        PAYMENTS_URL: `http://127.0.0.1:${front.payments ?? ports.payments}`,
        ...(front.gateway ? { TRUSTED_PROXIES: '127.0.0.1' } : {}),
        GATEWAY_DATABASE_URL: identityDatabase,
        SESSION_SIGNING_KEY: sessionSigningKey,
        PASSWORD_HASH_MEMORY_KIB: '256',
        PASSWORD_HASH_TIME_COST: '1',
        AUTH_ATTEMPTS_BURST: '1000000',
      },
      stdout: 'inherit',
      stderr: 'inherit',
    })
    gateways.set(name, { port, process: child })
    await waitForPort(port, 20_000)
    return port
  }

  async function killGateway(name: string, signal: NodeJS.Signals = 'SIGKILL') {
    const child = gateways.get(name)?.process
    if (!child || child.exitCode !== null || child.signalCode) return
    child.kill(signal)
    await child.exited
  }

  /** Sends a signal to a running service (SIGSTOP freezes it, SIGCONT resumes it). */
  function signal(name: ServiceName, sig: 'SIGSTOP' | 'SIGCONT') {
    processes[name]?.kill(sig)
  }

  async function start(name: ServiceName, extraEnv: Record<string, string> = {}) {
    const child = spawn(['bun', join(root, name, 'main.ts')], {
      env: {
        ...baseEnv,
        [`${name.toUpperCase()}_PORT`]: String(ports[name]),
        [`${name.toUpperCase()}_DATABASE_URL`]: databases[name],
        ...extraEnv,
      },
      stdout: 'inherit',
      stderr: 'inherit',
    })
    processes[name] = child
    await untilListening(child, ports[name], name)
    return child
  }

  /** Starts (or restarts, on the same port) another instance of a service, e.g. "orders-2". */
  async function startInstance(kind: ServiceName, name: string, extraEnv: Record<string, string> = {}) {
    const entry = instances.get(name) ?? { kind, port: await listenPort() }
    entry.process = spawn(['bun', join(root, kind, 'main.ts')], {
      env: { ...baseEnv, [`${kind.toUpperCase()}_PORT`]: String(entry.port), [`${kind.toUpperCase()}_DATABASE_URL`]: databases[kind], ...extraEnv },
      stdout: 'inherit',
      stderr: 'inherit',
    })
    instances.set(name, entry)
    await untilListening(entry.process, entry.port, name)
    return entry.process
  }

  /** The process of instance `name`: "orders"/"payments" (the first ones), another instance, or a gateway. */
  function processOf(name: string): Subprocess | undefined {
    return processes[name as ServiceName] ?? instances.get(name)?.process ?? gateways.get(name)?.process
  }

  /** SIGKILLs (or otherwise signals to exit) any instance and waits until it is gone. */
  async function killInstance(name: string, sig: NodeJS.Signals = 'SIGKILL') {
    const child = processOf(name)
    if (!child || child.exitCode !== null || child.signalCode) return
    child.kill(sig)
    await child.exited
  }

  /** Freezes (SIGSTOP) or thaws (SIGCONT) any instance. */
  function signalInstance(name: string, sig: 'SIGSTOP' | 'SIGCONT') {
    processOf(name)?.kill(sig)
  }

  /**
   * HAProxy (launcher/haproxy.ts, as `bun start -- --scale N` runs it) in
   * front of the named instances, which may be started later: the first of
   * each service is named after it ("orders"), the others as startInstance
   * names them, gateways as startGateway does. From then on the harness's
   * calls and the gateways started after go through it. Returns the shop's URL.
   */
  async function balance(servers: Partial<Record<ServiceName | 'gateway', string[]>>): Promise<{ url: string; haproxy: RunningHaproxy }> {
    const frontends: Frontend[] = []
    for (const kind of ['orders', 'payments', 'gateway'] as const) {
      const names = servers[kind]
      if (!names) continue
      const list = []
      for (const name of names) {
        let port: number
        if (kind === 'gateway') {
          port = gateways.get(name)?.port ?? gatewayPorts.get(name) ?? (await listenPort())
          gatewayPorts.set(name, port)
        } else if (name === kind) port = ports[kind]
        else {
          const entry = instances.get(name) ?? { kind, port: await listenPort() }
          instances.set(name, entry)
          port = entry.port
        }
        list.push({ name, port })
      }
      front[kind] = await listenPort()
      frontends.push({ name: kind, port: front[kind]!, servers: list, forwardFor: kind === 'gateway' })
    }
    haproxy = await startHaproxy({ dir: join(tmp, `fault-haproxy-${front.orders ?? front.gateway}`), frontends })
    return { url: `http://127.0.0.1:${front.gateway ?? 0}`, haproxy }
  }

  /** Waits for a process that is expected to kill itself (a fail point). */
  async function died(name: ServiceName, timeoutMs = 15_000): Promise<number | null> {
    const child = processes[name]!
    const code = await Promise.race([child.exited, Bun.sleep(timeoutMs).then(() => 'alive' as const)])
    if (code === 'alive') throw new Error(`${name} did not die within ${timeoutMs} ms`)
    return child.signalCode ? null : code
  }

  async function kill(name: ServiceName, signal: NodeJS.Signals = 'SIGKILL') {
    const child = processes[name]
    if (!child || child.exitCode !== null || child.signalCode) return
    child.kill(signal)
    await child.exited
  }

  async function call(name: ServiceName, method: string, path: string, user: string, body?: unknown) {
    const text = body === undefined ? undefined : JSON.stringify(body)
    const proof = signIdentity(identityProofKey, name, user, { method, pathAndQuery: path, bodyDigest: bodyDigest(text) })
    const response = await fetch(`http://127.0.0.1:${front[name] ?? ports[name]}${path}`, {
      method,
      headers: { 'gozon-identity': proof, ...(text === undefined ? {} : { 'content-type': 'application/json' }) },
      body: text,
    })
    return { status: response.status, body: (await response.json().catch(() => undefined)) as Record<string, unknown> }
  }

  /** A figure from a service's own /metrics, summed over its label sets (0 when absent). */
  async function metric(name: ServiceName, metricName: string): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${ports[name]}/metrics`, { headers: METRICS_SCRAPE })).text()
    const line = new RegExp(`^${metricName}(?:\\{[^}]*\\})? (\\S+)$`)
    return text.split('\n').reduce((sum, l) => sum + Number(line.exec(l)?.[1] ?? 0), 0)
  }

  const ordersSql = sqlClient(adminUrls.orders)
  const paymentsSql = sqlClient(adminUrls.payments)

  /** Stops the scenario's own PostgreSQL: SIGINT is a fast shutdown, SIGQUIT an immediate one. */
  async function stopPostgres(signal: 'SIGINT' | 'SIGQUIT') {
    const child = pg!.process
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.kill(signal)
    await exited
  }
  async function restartPostgres() {
    pg = await startPostgres({ dataDir: pgDir, port: pgPort, user: 'gozon', password: 'gozon', settings: { fsync: 'off' } })
  }
  /** Freezes or thaws the scenario's own PostgreSQL (every process of it). */
  function signalPostgres(signal: 'SIGSTOP' | 'SIGCONT') {
    const postmaster = pg!.process.pid!
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue
      try {
        const ppid = Number(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]!.split(' ')[1])
        if (ppid === postmaster) process.kill(Number(entry), signal)
      } catch {}
    }
    process.kill(postmaster, signal)
  }

  /** True when the scenario's nats-server fsyncs every message before acknowledging it. */
  const natsSyncsAlways = () => (cluster ? cluster.nodes.every((n) => n.syncAlways) : nats!.syncAlways)

  async function stopNats(signal: NodeJS.Signals) {
    await nats!.stop(signal)
  }
  async function restartNats() {
    nats = await startNats({ storeDir: natsDir, port: natsPort })
  }
  /** The cluster's node `i` (0-2), or the single server. */
  function natsNode(i: number): RunningNats {
    return cluster ? cluster.nodes[i]! : nats!
  }
  async function stopNatsNode(i: number, signal: NodeJS.Signals) {
    await cluster!.stopNode(i, signal)
  }
  async function restartNatsNode(i: number) {
    await cluster!.restartNode(i)
  }
  /** The cluster node (0-2) that leads `stream`, from JetStream's own stream info; waits out an election. */
  async function streamLeader(stream: string, timeoutMs = 20_000): Promise<number> {
    const nc = await connect({ servers: natsUrl.split(','), maxReconnectAttempts: -1 })
    try {
      const jsm = await jetstreamManager(nc, { timeout: 2000, checkAPI: false })
      const leaderOf = async () => {
        try {
          const leader = (await jsm.streams.info(stream)).cluster?.leader
          return leader ? Number(/gozon-n(\d+)$/.exec(leader)?.[1]) - 1 : -1
        } catch {
          return -1 // no answer while the cluster elects
        }
      }
      return await pollUntil(`a leader for ${stream}`, leaderOf, (i) => i >= 0, { timeoutMs, intervalMs: 200 })
    } finally {
      await nc.close()
    }
  }

  /** Runs the reconciliation (shared/reconcile, as `bun run reconcile`) and throws listing every discrepancy. */
  async function reconciled(withOrders: boolean, stuckAfterMs: number) {
    const result = await reconcile({ orders: withOrders ? ordersSql : undefined, payments: paymentsSql }, { stuckAfterMs, keep: 50 })
    if (result.summary.discrepancies > 0) {
      throw new Error(`${formatSummary(result.summary, withOrders)}\n${result.discrepancies.map(formatDiscrepancy).join('\n')}`)
    }
    return result.summary
  }

  /**
   * What must hold at any moment, even with orders in flight (the payments
   * side of the reconciliation): every balance is top-ups minus succeeded
   * payments and minus the ledger's debits, and not negative; every succeeded
   * payment has exactly one ledger debit of its amount, and no debit is
   * without one (so no order was debited twice). Returns the summary.
   */
  function checkBalances() {
    return reconciled(false, 0)
  }

  /** Every order final and reconciled with its payment, nothing left in flight. Returns a one-line summary. */
  async function checkInvariants(timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const [row] = await ordersSql`select count(*)::int as n from orders where status = 'NEW'`
      if (row!.n === 0) break
      if (Date.now() > deadline) throw new Error(`${row!.n} orders still NEW ${timeoutMs} ms after the fault healed`)
      await Bun.sleep(100)
    }
    // Every FINISHED order has exactly one succeeded payment of its amount for its user and
    // exactly one ledger debit; every CANCELLED one none; no payment or debit without an
    // order; every balance right. A NEW order now is stuck (stuck threshold 0).
    const summary = await reconciled(true, 0)
    for (const sql of [ordersSql, paymentsSql]) {
      const deadlineOutbox = Date.now() + 20_000
      for (;;) {
        const [left] = await sql`select count(*)::int as n from outbox where published_at is null`
        if (left!.n === 0) break
        if (Date.now() > deadlineOutbox) throw new Error(`${left!.n} outbox rows never published`)
        await Bun.sleep(100)
      }
    }
    const nc = await connect({ servers: natsUrl.split(',') })
    try {
      // A node that has just come back may not answer the JetStream API at once: ask again.
      const jsm = await jetstreamManager(nc, { checkAPI: false, timeout: 2000 })
      for (const c of [CONSUMERS.orders, CONSUMERS.payments]) {
        const deadlineConsumer = Date.now() + 20_000
        for (;;) {
          const info = await jsm.consumers.info(c.stream, c.durable).catch((error: unknown) => {
            if (Date.now() > deadlineConsumer || !isTransient(error)) throw error
            return undefined
          })
          if (info && info.num_pending === 0 && info.num_ack_pending === 0) break
          if (Date.now() > deadlineConsumer) throw new Error(`${c.durable}: ${info?.num_pending} pending, ${info?.num_ack_pending} unacked`)
          await Bun.sleep(100)
        }
      }
    } finally {
      await nc.close()
    }
    const { FINISHED, CANCELLED } = summary.orders
    return `${FINISHED + CANCELLED} orders (${FINISHED} FINISHED, ${CANCELLED} CANCELLED) reconciled with ${summary.payments.succeeded + summary.payments.failed} payments, ${summary.accounts} balances right, outboxes empty, consumers idle`
  }

  async function stop() {
    await Promise.all([...gateways.keys()].map((n) => killGateway(n, 'SIGTERM')))
    await haproxy?.stop()
    signal('payments', 'SIGCONT')
    signal('orders', 'SIGCONT')
    for (const name of instances.keys()) signalInstance(name, 'SIGCONT')
    await Promise.all([...(['orders', 'payments'] as const).map((n) => kill(n, 'SIGTERM')), ...[...instances.keys()].map((n) => killInstance(n, 'SIGTERM'))])
    await ordersSql.end()
    await paymentsSql.end()
    await (cluster ?? nats!).stop()
    await pg?.stop()
  }

  /** Publishes straight to JetStream, as a duplicating or misbehaving producer would. */
  async function publishRaw(subject: string, payload: unknown, msgID?: string) {
    const nc = await connect({ servers: natsUrl.split(',') })
    try {
      const data = typeof payload === 'string' ? payload : JSON.stringify(payload)
      return await jetstream(nc).publish(subject, data, msgID ? { msgID } : {})
    } finally {
      await nc.close()
    }
  }

  return {
    start,
    startInstance,
    killInstance,
    signalInstance,
    balance,
    startGateway,
    killGateway,
    signal,
    died,
    publishRaw,
    kill,
    call,
    stopNats,
    restartNats,
    natsSyncsAlways,
    natsNode,
    stopNatsNode,
    restartNatsNode,
    streamLeader,
    stopPostgres,
    restartPostgres,
    signalPostgres,
    checkBalances,
    checkInvariants,
    metric,
    stop,
    ordersSql,
    paymentsSql,
  }
}

/** The one-line summary a scenario prints. */
export function report(scenario: string, summary: string): void {
  console.log(`fault scenario ${scenario}: ok: ${summary}`)
}

// The load the scenarios put on a system while a fault happens.

type FaultSystem = Awaited<ReturnType<typeof startFaultSystem>>

export async function shoppers(s: FaultSystem, users: number, topUp: number) {
  for (let i = 0; i < users; i++) {
    await s.call('payments', 'POST', '/api/payments/account', `f${i}`)
    await s.call('payments', 'POST', '/api/payments/account/top-up', `f${i}`, { amount: topUp })
  }
}

/** Waits until a running stream of orders has placed `more` beyond what it had (the load really runs). */
export async function placedMore(placed: () => number, more: number, when: string, timeoutMs = 20_000) {
  const from = placed()
  await pollUntil(`${more} more orders placed ${when}`, placed, (n) => n >= from + more, { timeoutMs, intervalMs: 50 })
}

/** Places orders in a loop until stopped; counts the ones created (some fail while a dependency is down). */
export function orderStream(s: FaultSystem, users: number) {
  let placed = 0
  let refused = 0
  let running = true
  const done = (async () => {
    while (running) {
      await Promise.all(
        Array.from({ length: 5 }, async (_, i) => {
          try {
            const r = await s.call('orders', 'POST', '/api/orders', `f${i % users}`, { amount: 10 })
            if (r.status === 201) placed += 1
            else refused += 1
          } catch {
            refused += 1
          }
        }),
      )
      await Bun.sleep(20)
    }
  })()
  return {
    placed: () => placed,
    async stop() {
      running = false
      await done
      return { placed, refused }
    },
  }
}

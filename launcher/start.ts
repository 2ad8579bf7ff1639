// `bun start`: the whole of Gozon on one machine.
//
// Starts PostgreSQL (embedded, data in .data/postgres) unless DATABASE_URL
// names a server, and nats-server with JetStream (store in .data/nats) unless
// NATS_URL names one; then the orders and payments services (each migrates
// its own database at start) and the gateway, as child processes. Ctrl-C
// stops them in order: gateway, services, then NATS and PostgreSQL.
//
// The keys of identity (IDENTITY_PROOF_KEY for gateway and services,
// SESSION_SIGNING_KEY for the gateway) come from the environment or, when
// unset, from .data/secrets.json, generated at random on first start.
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { DEFAULTS, EnvReader, loadConfigOrExit } from '../shared/config'
import { createLogger } from '../shared/logger'
import { type RunningCluster, type RunningNats, startNats, startNatsCluster } from './nats'
import { startPostgres, type RunningPostgres } from './postgres'

const root = join(import.meta.dir, '..')

const config = loadConfigOrExit(() => {
  const env = new EnvReader()
  const value = {
    dataDir: env.string('GOZON_DATA_DIR', join(root, '.data')),
    stateFile: env.optionalString('GOZON_STATE_FILE'),
    // Where each service writes a CPU profile when it exits (bun --cpu-prof), for `bun run bench -- --profile`.
    cpuProfileDir: env.optionalString('GOZON_CPU_PROFILE_DIR'),
    databaseUrl: env.optionalString('DATABASE_URL'),
    ordersDatabaseUrl: env.optionalString('ORDERS_DATABASE_URL'),
    paymentsDatabaseUrl: env.optionalString('PAYMENTS_DATABASE_URL'),
    gatewayDatabaseUrl: env.optionalString('GATEWAY_DATABASE_URL'),
    identityProofKey: env.secret('IDENTITY_PROOF_KEY', 32),
    sessionSigningKey: env.secret('SESSION_SIGNING_KEY', 32),
    natsUrl: env.optionalString('NATS_URL'),
    postgresPort: env.port('EMBEDDED_POSTGRES_PORT', DEFAULTS.embeddedPostgresPort),
    // Extra server settings for the embedded PostgreSQL: "name=value,name=value".
    postgresSettings: env.string('EMBEDDED_POSTGRES_SETTINGS', ''),
    natsPort: env.port('EMBEDDED_NATS_PORT', DEFAULTS.embeddedNatsPort),
    // 3: a JetStream cluster of three nodes on EMBEDDED_NATS_PORT and the next two ports (routes 2000 above), streams with three replicas.
    natsNodes: env.int('EMBEDDED_NATS_NODES', 1, { min: 1, max: 3 }),
    gatewayPort: env.port('GATEWAY_PORT', DEFAULTS.gatewayPort),
    ordersPort: env.port('ORDERS_PORT', DEFAULTS.ordersPort),
    paymentsPort: env.port('PAYMENTS_PORT', DEFAULTS.paymentsPort),
  }
  env.done()
  return value
})
const log = createLogger('launcher', 'info')
const dataDir = config.dataDir

function parseSettings(text: string): Record<string, string> {
  const settings: Record<string, string> = {}
  for (const pair of text.split(',')) {
    const [name, ...value] = pair.split('=')
    if (name?.trim()) settings[name.trim()] = value.join('=').trim()
  }
  return settings
}

/** The URL of one database on the server that `serverUrl` names. */
function databaseOn(serverUrl: string, database: string): string {
  const url = new URL(serverUrl)
  url.pathname = `/${database}`
  return url.toString()
}

type Secrets = { identityProofKey: string; sessionSigningKey: string }

/** The keys from the environment, else from the data folder (made on first start, readable by this user only). */
function loadSecrets(): Secrets {
  const file = join(dataDir, 'secrets.json')
  let stored: Partial<Secrets> = {}
  if (existsSync(file)) stored = JSON.parse(readFileSync(file, 'utf8')) as Partial<Secrets>
  const random = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')
  const secrets = {
    identityProofKey: stored.identityProofKey ?? random(),
    sessionSigningKey: stored.sessionSigningKey ?? random(),
  }
  if (stored.identityProofKey !== secrets.identityProofKey || stored.sessionSigningKey !== secrets.sessionSigningKey) {
    mkdirSync(dataDir, { recursive: true })
    writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 })
  }
  return {
    identityProofKey: config.identityProofKey ?? secrets.identityProofKey,
    sessionSigningKey: config.sessionSigningKey ?? secrets.sessionSigningKey,
  }
}

const children: { name: string; process: ChildProcess }[] = []
let postgres: RunningPostgres | undefined
let nats: RunningNats | RunningCluster | undefined
let shuttingDown = false

function startChild(name: string, entry: string, env: Record<string, string>): ChildProcess {
  // Own process group: Ctrl-C reaches only the launcher, which stops children in order.
  const profile = config.cpuProfileDir
    ? ['--cpu-prof', '--cpu-prof-md', `--cpu-prof-dir=${config.cpuProfileDir}`, `--cpu-prof-name=${name}.cpuprofile`]
    : []
  const child = spawn(process.execPath, [...profile, join(root, entry)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
    detached: true,
  })
  children.push({ name, process: child })
  child.once('exit', (code, signal) => {
    if (shuttingDown) return
    log.error({ child: name, code, signal }, 'a service exited; stopping everything')
    void shutdown(1)
  })
  return child
}

async function waitHealthy(name: string, url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (shuttingDown) return
    try {
      const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) })
      if (response.status === 200) return
    } catch {}
    await Bun.sleep(100)
  }
  throw new Error(`${name} did not become healthy at ${url} within ${timeoutMs} ms`)
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    const force = setTimeout(() => child.kill('SIGKILL'), 20_000)
    child.once('exit', () => {
      clearTimeout(force)
      resolve()
    })
    child.kill('SIGTERM')
  })
}

async function shutdown(code: number): Promise<never> {
  if (shuttingDown) return new Promise<never>(() => {})
  shuttingDown = true
  log.info('stopping Gozon')
  const gateway = children.filter((c) => c.name === 'gateway')
  const services = children.filter((c) => c.name !== 'gateway')
  await Promise.all(gateway.map((c) => stopChild(c.process)))
  await Promise.all(services.map((c) => stopChild(c.process)))
  await nats?.stop()
  await postgres?.stop()
  log.info('stopped')
  process.exit(code)
}

process.on('SIGINT', () => void shutdown(0))
process.on('SIGTERM', () => void shutdown(0))

try {
  let serverUrl = config.databaseUrl
  if (!serverUrl && !(config.ordersDatabaseUrl && config.paymentsDatabaseUrl && config.gatewayDatabaseUrl)) {
    postgres = await startPostgres({
      dataDir: join(dataDir, 'postgres'),
      port: config.postgresPort,
      user: DEFAULTS.postgresUser,
      password: DEFAULTS.postgresPassword,
      settings: parseSettings(config.postgresSettings),
      onLog: (line) => log.debug({ postgres: line }),
    })
    serverUrl = postgres.url('postgres')
    log.info({ port: postgres.port, dataDir: join(dataDir, 'postgres') }, 'embedded PostgreSQL started')
  }
  let natsUrl = config.natsUrl
  let streamReplicas = 1
  if (!natsUrl && config.natsNodes === 1) {
    const single = await startNats({ storeDir: join(dataDir, 'nats'), port: config.natsPort, onLog: (line) => log.debug({ nats: line }) })
    nats = single
    natsUrl = single.url
    log.info({ port: single.port, storeDir: join(dataDir, 'nats'), syncAlways: single.syncAlways }, 'nats-server started')
  } else if (!natsUrl) {
    if (config.natsNodes !== 3) throw new Error('EMBEDDED_NATS_NODES must be 1 or 3')
    const clientPorts = [0, 1, 2].map((i) => config.natsPort + i)
    const cluster = await startNatsCluster({
      rootDir: join(dataDir, 'nats-cluster'),
      clientPorts,
      routePorts: clientPorts.map((p) => p + 2000),
      onLog: (node, line) => log.debug({ nats: line, node }),
    })
    nats = cluster
    natsUrl = cluster.url
    streamReplicas = 3
    log.info({ nodes: cluster.url, storeDir: join(dataDir, 'nats-cluster') }, 'three-node nats-server cluster started')
  }

  const ordersUrl = `http://127.0.0.1:${config.ordersPort}`
  const paymentsUrl = `http://127.0.0.1:${config.paymentsPort}`
  const secrets = loadSecrets()
  const common = { NATS_URL: natsUrl!, IDENTITY_PROOF_KEY: secrets.identityProofKey, ...(streamReplicas > 1 ? { NATS_STREAM_REPLICAS: String(streamReplicas) } : {}) }
  startChild('orders', 'orders/main.ts', {
    ...common,
    ORDERS_PORT: String(config.ordersPort),
    ORDERS_DATABASE_URL: config.ordersDatabaseUrl ?? databaseOn(serverUrl!, DEFAULTS.ordersDatabase),
  })
  startChild('payments', 'payments/main.ts', {
    ...common,
    PAYMENTS_PORT: String(config.paymentsPort),
    PAYMENTS_DATABASE_URL: config.paymentsDatabaseUrl ?? databaseOn(serverUrl!, DEFAULTS.paymentsDatabase),
  })
  await Promise.all([waitHealthy('orders', ordersUrl), waitHealthy('payments', paymentsUrl)])
  startChild('gateway', 'gateway/main.ts', {
    ...common,
    GATEWAY_PORT: String(config.gatewayPort),
    ORDERS_URL: ordersUrl,
    PAYMENTS_URL: paymentsUrl,
    SESSION_SIGNING_KEY: secrets.sessionSigningKey,
    GATEWAY_DATABASE_URL: config.gatewayDatabaseUrl ?? databaseOn(serverUrl!, DEFAULTS.identityDatabase),
  })
  const gatewayUrl = `http://127.0.0.1:${config.gatewayPort}`
  await waitHealthy('gateway', gatewayUrl)
  if (config.stateFile) {
    // For tools that drive the running system (the browser tests pause a service this way).
    const pids = Object.fromEntries(children.map((c) => [c.name, c.process.pid]))
    const natsPids = nats && 'nodes' in nats ? nats.nodes.map((n) => n.process.pid) : nats?.process.pid
    writeFileSync(config.stateFile, JSON.stringify({ gatewayUrl, pids, postgres: postgres?.process.pid, nats: natsPids }))
  }
  console.log(`\nGozon is up: ${gatewayUrl}  (API docs: ${gatewayUrl}/api/orders/swagger, ${gatewayUrl}/api/payments/swagger, ${gatewayUrl}/api/auth/swagger; Ctrl-C stops)\n`)
} catch (error) {
  // One plain line a person can act on (for example: how to install nats-server).
  console.error(`gozon: could not start: ${error instanceof Error ? error.message : String(error)}`)
  await shutdown(1)
}

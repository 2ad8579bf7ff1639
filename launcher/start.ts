// `bun start`: the whole of Gozon on one machine.
//
// Starts PostgreSQL (embedded, data in .data/postgres) unless DATABASE_URL
// names a server, and nats-server with JetStream (store in .data/nats) unless
// NATS_URL names one; then the orders and payments services (each migrates
// its own database at start) and the gateway, as child processes. Ctrl-C
// stops them in order: gateway, services, then NATS and PostgreSQL.
//
// The keys of identity (IDENTITY_PROOF_KEY for gateway and services,
// SESSION_SIGNING_KEY for the gateway) and the scrape token of every /metrics
// (METRICS_TOKEN) come from the environment or, when unset, from
// .data/secrets.json, generated at random on first start. So do the passwords
// of the services' own PostgreSQL roles: on the embedded server (or the one
// DATABASE_URL names, as its administrator) the launcher creates a role per
// service that owns that service's database and can log in nowhere else; the
// services never get the administrator's password.
//
// `bun start -- --scale N` (or GOZON_SCALE=N) runs N instances of each
// service on a three-node NATS cluster, with HAProxy in front of them:
// gateway-i on GOZON_INSTANCE_PORT_BASE+i, orders-i on +20+i, payments-i on
// +40+i, and HAProxy on the usual ports (GATEWAY_PORT for the shop, ORDERS_PORT
// and PAYMENTS_PORT for the gateways' calls); HAProxy routes around an
// instance that is down.
//
// Once Gozon is up, every process it started (services, gateways, nats-server
// or its nodes, the embedded PostgreSQL) is supervised: one that exits is
// started again after a back-off with jitter, and one that keeps exiting is
// given up on with one line (launcher/supervisor.ts).
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { DEFAULTS, EnvReader, loadConfigOrExit } from '../shared/config'
import { provisionDatabase } from '../shared/db/provision'
import { createLogger } from '../shared/logger'
import { inheritedEnvironment } from './environment'
import { type RunningHaproxy, startHaproxy } from './haproxy'
import { type RunningCluster, type RunningNats, startNats, startNatsCluster } from './nats'
import { type RunningPostgres, startPostgres } from './postgres'
import { DEFAULT_SUPERVISION, Supervisor } from './supervisor'

const root = join(import.meta.dir, '..')
const cli = (() => {
  try {
    return parseArgs({ options: { scale: { type: 'string' } }, allowPositionals: false }).values
  } catch (error) {
    // An unknown option or --scale without a number: one line, not a stack trace.
    console.error(`gozon: ${error instanceof Error ? error.message : String(error)}. Usage: bun start [-- --scale N]`)
    process.exit(2)
  }
})()

const config = loadConfigOrExit(() => {
  const env = new EnvReader({ ...process.env, ...(cli.scale === undefined ? {} : { GOZON_SCALE: cli.scale }) })
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
    metricsToken: env.secret('METRICS_TOKEN', 16),
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
    // --scale N wins over GOZON_SCALE.
    scale: env.int('GOZON_SCALE', 1, { min: 1, max: 16 }),
    instancePortBase: env.port('GOZON_INSTANCE_PORT_BASE', 3100),
  }
  if (value.instancePortBase + 40 + value.scale > 65_535)
    env.problem("GOZON_INSTANCE_PORT_BASE leaves no room for the instances' ports (it needs base + 40 + N ≤ 65535)")
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

/** Writes a file so that a reader (or a crash) never meets half of it: a temporary file, then a rename. */
function writeAtomically(file: string, text: string, mode = 0o644): void {
  const temporary = `${file}.${process.pid}.tmp`
  writeFileSync(temporary, text, { mode })
  renameSync(temporary, file)
}

type Secrets = {
  identityProofKey: string
  sessionSigningKey: string
  metricsToken: string
  /** The passwords of the services' own PostgreSQL roles (see databaseFor). */
  ordersDatabasePassword: string
  paymentsDatabasePassword: string
  gatewayDatabasePassword: string
}
const SECRET_NAMES = [
  'identityProofKey',
  'sessionSigningKey',
  'metricsToken',
  'ordersDatabasePassword',
  'paymentsDatabasePassword',
  'gatewayDatabasePassword',
] as const satisfies readonly (keyof Secrets)[]

/** The keys from the environment, else from the data folder (made on first start, readable by this user only). */
function loadSecrets(): Secrets {
  const file = join(dataDir, 'secrets.json')
  let stored: Partial<Secrets> = {}
  if (existsSync(file)) stored = JSON.parse(readFileSync(file, 'utf8')) as Partial<Secrets>
  const random = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')
  const secrets = Object.fromEntries(SECRET_NAMES.map((name) => [name, stored[name] ?? random()])) as Secrets
  if (SECRET_NAMES.some((name) => stored[name] !== secrets[name])) {
    mkdirSync(dataDir, { recursive: true })
    writeAtomically(file, `${JSON.stringify(secrets, null, 2)}\n`, 0o600)
  }
  return {
    ...secrets,
    identityProofKey: config.identityProofKey ?? secrets.identityProofKey,
    sessionSigningKey: config.sessionSigningKey ?? secrets.sessionSigningKey,
    metricsToken: config.metricsToken ?? secrets.metricsToken,
  }
}

/** The user name a database URL connects as. */
const roleOf = (url: string) => decodeURIComponent(new URL(url).username)

/**
 * A service's database URL: the one set for it, else its own role on the
 * server (the embedded one or DATABASE_URL's), created or updated now with the
 * server's administrator, who is used for nothing else.
 */
async function databaseFor(
  service: 'orders' | 'payments' | 'gateway',
  given: string | undefined,
  serverUrl: string | undefined,
  password: string,
): Promise<string> {
  if (given) return given
  const url = new URL(serverUrl!)
  url.username = DEFAULTS.databaseRoles[service]
  url.password = password
  url.pathname = `/${DEFAULTS.databases[service]}`
  await provisionDatabase(serverUrl!, url.toString(), { closeMaintenanceDatabases: postgres !== undefined })
  return url.toString()
}

const children: { name: string; kind: string; process: ChildProcess }[] = []
/** Writes the state file (GOZON_STATE_FILE) once Gozon is up, and again after each restart. */
let writeState = () => {}
const supervisor = new Supervisor(log, DEFAULT_SUPERVISION, () => writeState())
let postgres: RunningPostgres | undefined
let nats: RunningNats | RunningCluster | undefined
let haproxy: RunningHaproxy | undefined
/** HAProxy while it is starting, so that a Ctrl-C meanwhile can still stop it. */
let haproxyStarting: Promise<RunningHaproxy> | undefined
let shuttingDown = false
/** Set once everything is up: from then on a process that exits is restarted (launcher/supervisor.ts) instead of stopping all. */
let up = false
const scaled = config.scale > 1
const natsNodes = scaled ? 3 : config.natsNodes

/** Instance names and ports: the usual ports with one instance, else behind HAProxy (see the top of this file). */
function instances(kind: 'gateway' | 'orders' | 'payments'): { name: string; port: number }[] {
  const single = { gateway: config.gatewayPort, orders: config.ordersPort, payments: config.paymentsPort }[kind]
  if (!scaled) return [{ name: kind, port: single }]
  const offset = { gateway: 0, orders: 20, payments: 40 }[kind]
  return Array.from({ length: config.scale }, (_, i) => ({ name: `${kind}-${i + 1}`, port: config.instancePortBase + offset + i + 1 }))
}

function startChild(name: string, kind: string, entry: string, env: Record<string, string>): ChildProcess | undefined {
  if (shuttingDown) return undefined // Ctrl-C during start-up: start nothing more
  // Own process group: Ctrl-C reaches only the launcher, which stops children in order.
  const profile = config.cpuProfileDir ? ['--cpu-prof', '--cpu-prof-md', `--cpu-prof-dir=${config.cpuProfileDir}`, `--cpu-prof-name=${name}.cpuprofile`] : []
  const start = () =>
    spawn(process.execPath, [...profile, join(root, entry)], {
      env: { ...inheritedEnvironment(), ...env },
      stdio: ['ignore', 'inherit', 'inherit'],
      detached: true,
    })
  const child = start()
  const supervised = { name, kind, process: child }
  children.push(supervised)
  // During start-up an exit is most likely a setting that is wrong: say so and stop. Once Gozon is up, the supervisor restarts it.
  child.once('exit', (code, signal) => {
    if (shuttingDown || up) return
    log.error({ child: name, code, signal }, 'a service exited during start-up; stopping everything')
    void shutdown(1, `${name} exited`)
  })
  supervisor.watch(
    name,
    () => supervised.process,
    async () => {
      supervised.process = start()
    },
  )
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

async function shutdown(code: number, reason: string): Promise<never> {
  if (shuttingDown) return new Promise<never>(() => {})
  shuttingDown = true
  // A restart under way finishes first, so that what it started is stopped below.
  await supervisor.stop()
  log.info({ reason }, 'stopping Gozon')
  const gateways = children.filter((c) => c.kind === 'gateway')
  const services = children.filter((c) => c.kind !== 'gateway')
  // Behind HAProxy: no new connections to a gateway that is going, then let it close its sockets.
  await Promise.all(gateways.map((c) => haproxy?.drain('gateway', c.name).catch(() => {})))
  await Promise.all(gateways.map((c) => stopChild(c.process)))
  await haproxy?.stop()
  await Promise.all(services.map((c) => stopChild(c.process)))
  // Ctrl-C during start-up: HAProxy may still be coming up.
  await haproxyStarting?.then((h) => h.stop()).catch(() => {})
  await nats?.stop()
  await postgres?.stop()
  log.info('stopped')
  process.exit(code)
}

process.on('SIGINT', () => void shutdown(0, 'SIGINT'))
process.on('SIGTERM', () => void shutdown(0, 'SIGTERM'))

try {
  let serverUrl = config.databaseUrl
  if (!serverUrl && !(config.ordersDatabaseUrl && config.paymentsDatabaseUrl && config.gatewayDatabaseUrl)) {
    const postgresOptions = {
      dataDir: join(dataDir, 'postgres'),
      port: config.postgresPort,
      user: DEFAULTS.postgresUser,
      password: DEFAULTS.postgresPassword,
      settings: parseSettings(config.postgresSettings),
      onLog: (line: string) => log.debug({ postgres: line }),
      // Like the services, out of the terminal's reach: Ctrl-C stops them in order, this one last.
      detached: true,
    }
    postgres = await startPostgres(postgresOptions)
    supervisor.watch(
      'postgres',
      () => postgres?.process,
      async () => {
        postgres = await startPostgres(postgresOptions)
      },
    )
    serverUrl = postgres.url('postgres')
    log.info({ port: postgres.port, dataDir: join(dataDir, 'postgres') }, 'embedded PostgreSQL started')
  }
  let natsUrl = config.natsUrl
  let streamReplicas = 1
  if (!natsUrl && natsNodes === 1) {
    const natsOptions = { storeDir: join(dataDir, 'nats'), port: config.natsPort, onLog: (line: string) => log.debug({ nats: line }), detached: true }
    let single = await startNats(natsOptions)
    nats = single
    supervisor.watch(
      'nats-server',
      () => single.process,
      async () => {
        single = await startNats(natsOptions)
        nats = single
      },
    )
    natsUrl = single.url
    log.info({ port: single.port, storeDir: join(dataDir, 'nats'), syncAlways: single.syncAlways }, 'nats-server started')
  } else if (!natsUrl) {
    if (natsNodes !== 3) throw new Error('EMBEDDED_NATS_NODES must be 1 or 3')
    const clientPorts = [0, 1, 2].map((i) => config.natsPort + i)
    const cluster = await startNatsCluster({
      rootDir: join(dataDir, 'nats-cluster'),
      clientPorts,
      routePorts: clientPorts.map((p) => p + 2000),
      onLog: (node, line) => log.debug({ nats: line, node }),
      detached: true,
    })
    nats = cluster
    for (const i of [0, 1, 2])
      supervisor.watch(
        `nats-${i + 1}`,
        () => cluster.nodes[i]?.process,
        () => cluster.restartNode(i),
      )
    natsUrl = cluster.url
    streamReplicas = 3
    log.info({ nodes: cluster.url, storeDir: join(dataDir, 'nats-cluster') }, 'three-node nats-server cluster started')
  }

  // The gateways reach the services on their usual ports: the service itself, or HAProxy in front of its instances.
  const ordersUrl = `http://127.0.0.1:${config.ordersPort}`
  const paymentsUrl = `http://127.0.0.1:${config.paymentsPort}`
  const secrets = loadSecrets()
  const common = {
    NATS_URL: natsUrl!,
    IDENTITY_PROOF_KEY: secrets.identityProofKey,
    METRICS_TOKEN: secrets.metricsToken,
    ...(streamReplicas > 1 ? { NATS_STREAM_REPLICAS: String(streamReplicas) } : {}),
  }
  const ordersDatabase = await databaseFor('orders', config.ordersDatabaseUrl, serverUrl, secrets.ordersDatabasePassword)
  const paymentsDatabase = await databaseFor('payments', config.paymentsDatabaseUrl, serverUrl, secrets.paymentsDatabasePassword)
  const gatewayDatabase = await databaseFor('gateway', config.gatewayDatabaseUrl, serverUrl, secrets.gatewayDatabasePassword)
  const roles = { orders: roleOf(ordersDatabase), payments: roleOf(paymentsDatabase), gateway: roleOf(gatewayDatabase) }
  const administrator = serverUrl ? roleOf(serverUrl) : DEFAULTS.postgresUser
  const asAdministrator = Object.entries(roles).filter(([, role]) => role === administrator || role === DEFAULTS.postgresUser)
  if (asAdministrator.length > 0) {
    log.warn(
      { services: asAdministrator.map(([service]) => service), role: administrator },
      'these services connect as the database administrator (their *_DATABASE_URL says so): give each a role of its own (bun run db:provision)',
    )
  } else log.info({ roles }, 'each service connects with its own PostgreSQL role')
  const started: Promise<void>[] = []
  for (const o of instances('orders')) {
    startChild(o.name, 'orders', 'orders/main.ts', { ...common, ORDERS_PORT: String(o.port), ORDERS_DATABASE_URL: ordersDatabase })
    started.push(waitHealthy(o.name, `http://127.0.0.1:${o.port}`))
  }
  for (const p of instances('payments')) {
    startChild(p.name, 'payments', 'payments/main.ts', { ...common, PAYMENTS_PORT: String(p.port), PAYMENTS_DATABASE_URL: paymentsDatabase })
    started.push(waitHealthy(p.name, `http://127.0.0.1:${p.port}`))
  }
  await Promise.all(started)
  if (scaled) {
    const haproxyOptions = {
      dir: join(dataDir, 'haproxy'),
      detached: true,
      frontends: [
        { name: 'gateway', port: config.gatewayPort, servers: instances('gateway'), forwardFor: true },
        { name: 'orders', port: config.ordersPort, servers: instances('orders') },
        { name: 'payments', port: config.paymentsPort, servers: instances('payments') },
      ],
    }
    haproxyStarting = startHaproxy(haproxyOptions)
    haproxy = await haproxyStarting
    supervisor.watch(
      'haproxy',
      () => haproxy?.process,
      async () => {
        haproxy = await startHaproxy(haproxyOptions)
      },
    )
    if (shuttingDown) await haproxy.stop()
    else await Promise.all(['orders', 'payments'].flatMap((kind) => instances(kind as 'orders').map((i) => haproxy!.waitFor(kind, i.name, 'up'))))
    log.info({ config: haproxy.configFile, instances: config.scale }, 'haproxy started in front of the instances')
  }
  for (const g of instances('gateway')) {
    startChild(g.name, 'gateway', 'gateway/main.ts', {
      ...common,
      GATEWAY_PORT: String(g.port),
      ORDERS_URL: ordersUrl,
      PAYMENTS_URL: paymentsUrl,
      SESSION_SIGNING_KEY: secrets.sessionSigningKey,
      // Keys that still verify during a rotation (README, Identity): the gateways', not the services'.
      ...(process.env.SESSION_VERIFY_KEYS ? { SESSION_VERIFY_KEYS: process.env.SESSION_VERIFY_KEYS } : {}),
      GATEWAY_DATABASE_URL: gatewayDatabase,
      // Behind HAProxy the peer is HAProxy; the caller's address is the one it forwards.
      ...(scaled ? { TRUSTED_PROXIES: '127.0.0.1' } : {}),
    })
  }
  await Promise.all(instances('gateway').map((g) => waitHealthy(g.name, `http://127.0.0.1:${g.port}`)))
  if (haproxy) await Promise.all(instances('gateway').map((g) => haproxy!.waitFor('gateway', g.name, 'up')))
  const gatewayUrl = `http://127.0.0.1:${config.gatewayPort}`
  if (shuttingDown) await new Promise<never>(() => {}) // Ctrl-C during start-up: shutdown() exits
  up = true
  writeState = () => {
    if (!config.stateFile) return
    // For tools that drive the running system (the browser tests pause a service this way); rewritten after each restart.
    const pids = Object.fromEntries(children.map((c) => [c.name, c.process.pid]))
    const natsPids = nats && 'nodes' in nats ? nats.nodes.map((n) => n.process.pid) : nats?.process.pid
    const ports = Object.fromEntries((['gateway', 'orders', 'payments'] as const).flatMap((k) => instances(k).map((i) => [i.name, i.port])))
    writeAtomically(
      config.stateFile,
      JSON.stringify({ gatewayUrl, pids, ports, postgres: postgres?.process.pid, nats: natsPids, haproxy: haproxy?.process.pid }),
    )
  }
  writeState()
  if (scaled) {
    const list = (['gateway', 'orders', 'payments'] as const)
      .map(
        (k) =>
          `${k} ${instances(k)
            .map((i) => i.port)
            .join(', ')}`,
      )
      .join('; ')
    console.log(`\n${config.scale} instances of each service behind HAProxy (${list}); NATS: ${natsUrl}`)
  }
  console.log(
    `\nGozon is up: ${gatewayUrl}  (API docs: ${gatewayUrl}/api/orders/swagger, ${gatewayUrl}/api/payments/swagger, ${gatewayUrl}/api/auth/swagger; Ctrl-C stops)\n`,
  )
} catch (error) {
  // One plain line a person can act on (for example: how to install nats-server).
  console.error(`gozon: could not start: ${error instanceof Error ? error.message : String(error)}`)
  await shutdown(1, 'could not start')
}

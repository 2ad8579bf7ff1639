// `bun run bench`: how fast Gozon moves orders from HTTP to a final status.
//
// Starts the system as `bun start` does (or targets one: --url), creates users
// with accounts and top-ups, then places orders whose outcome is known in
// advance: each user's top-up equals the sum of that user's affordable orders,
// and about 20% of orders cost more than the whole top-up, so whatever the
// processing order, affordable orders finish and the others are cancelled.
// Every order is followed to its final status through the JSON live stream
// (/api/orders/live), not by polling.
//
//   bun run bench                          burst, then steady rates
//   bun run bench -- --mode burst --orders 2000 --users 50 --concurrency 32
//   bun run bench -- --mode steady --rates 100,300,600 --seconds 20
//   bun run bench -- --url http://127.0.0.1:3000    against a running system
//   bun run bench -- --instances 2         against `bun start -- --scale 2` (HAProxy, three NATS nodes)
//   bun run bench -- --scale 1,2           the same workload on each, side by side in one run
//   bun run bench -- --knee                then the highest open-loop rate held 60 s with p99 <= 100 ms
//   bun run bench -- --trace               with OpenTelemetry tracing on (spans to a collector here)
//
// Writes bench/results/<time>.json and bench/results/latency.svg.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import postgres from 'postgres'
import { type SpawnedGozon, spawnGozon } from '../launcher/spawn'
import { DEFAULTS } from '../shared/config'
import { latencyChart } from './chart'
import { summarize } from './stats'

const { values: args } = parseArgs({
  options: {
    mode: { type: 'string', default: 'both' },
    users: { type: 'string', default: '50' },
    orders: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '32' },
    rates: { type: 'string', default: '100,300,600' },
    seconds: { type: 'string', default: '20' },
    url: { type: 'string' },
    'database-url': { type: 'string' },
    'settle-seconds': { type: 'string', default: '30' },
    profile: { type: 'boolean', default: false },
    'pg-statements': { type: 'boolean', default: false },
    instances: { type: 'string', default: '1' },
    scale: { type: 'string' },
    knee: { type: 'boolean', default: false },
    'knee-start': { type: 'string', default: '200' },
    'knee-step': { type: 'string', default: '200' },
    'knee-seconds': { type: 'string', default: '60' },
    'knee-p99-ms': { type: 'string', default: '100' },
    // Tracing on: every process exports its spans over OTLP to a collector in this process, which counts them.
    trace: { type: 'boolean', default: false },
  },
})

if (args.scale) {
  // One child run per instance count, then the figures side by side.
  const { runScales } = await import('./scale')
  await runScales(args.scale.split(',').map(Number), process.argv.slice(2))
  process.exit(0)
}

const mode = args.mode as 'burst' | 'steady' | 'both'
const settings = {
  users: Number(args.users),
  orders: Number(args.orders),
  concurrency: Number(args.concurrency),
  rates: args.rates!.split(',').map(Number),
  seconds: Number(args.seconds),
  settleMs: Number(args['settle-seconds']) * 1000,
}

type PlannedOrder = { userId: string; amount: number; expected: 'FINISHED' | 'CANCELLED' }
type Tracked = PlannedOrder & {
  id?: string
  sentAt: number
  createdAt?: number
  finalAt?: number
  status?: string
  httpStatus?: number
  error?: string
}

const now = () => performance.now()

// ---------------------------------------------------------------- the system

let gozon: SpawnedGozon | undefined
let baseUrl: string
let databaseUrl: string | undefined
let pids: Record<string, number> = {}
/** What the --trace collector received. */
let tracedSpans: { spans: number; requests: number } | undefined
let stopCollector: (() => void) | undefined

if (args.url) {
  baseUrl = args.url.replace(/\/$/, '')
  databaseUrl = args['database-url']
} else {
  console.error('starting Gozon (embedded PostgreSQL and nats-server, as bun start does)…')
  const profileDir = join(import.meta.dir, 'results', 'profiles')
  if (args.profile) mkdirSync(profileDir, { recursive: true })
  const instances = Number(args.instances)
  const collector = args.trace ? spanCollector() : undefined
  gozon = await spawnGozon({
    args: instances > 1 ? ['--scale', String(instances)] : [],
    env: {
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
      // Every user signs up and gets a token from this one address: lift the sign-in attempt limit.
      AUTH_ATTEMPTS_BURST: '100000',
      ...(args.profile ? { GOZON_CPU_PROFILE_DIR: profileDir } : {}),
      ...(collector ? { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url } : {}),
      EMBEDDED_POSTGRES_SETTINGS: [args['pg-statements'] ? 'shared_preload_libraries=pg_stat_statements' : '', process.env.EMBEDDED_POSTGRES_SETTINGS ?? '']
        .filter(Boolean)
        .join(','),
    },
    echo: Boolean(process.env.BENCH_LOG_LEVEL),
  })
  baseUrl = gozon.state.gatewayUrl
  databaseUrl = `postgres://${DEFAULTS.postgresUser}:${DEFAULTS.postgresPassword}@127.0.0.1:${gozon.ports.postgres}/postgres`
  pids = { ...gozon.state.pids }
  if (gozon.state.postgres) pids.postgres = gozon.state.postgres
  if (typeof gozon.state.nats === 'number') pids.nats = gozon.state.nats
  else for (const [i, pid] of (gozon.state.nats ?? []).entries()) pids[`nats-${i + 1}`] = pid
  if (gozon.state.haproxy) pids.haproxy = gozon.state.haproxy
}
const sql = databaseUrl ? postgres(databaseUrl, { max: 1, onnotice: () => {} }) : undefined

/** An OTLP/HTTP endpoint that counts the spans it is sent (for --trace) and keeps nothing. */
function spanCollector() {
  const counted = { spans: 0, requests: 0 }
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(request) {
      const body = (await request.json()) as { resourceSpans?: { scopeSpans?: { spans?: unknown[] }[] }[] }
      counted.requests += 1
      for (const rs of body.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) counted.spans += ss.spans?.length ?? 0
      return Response.json({})
    },
  })
  tracedSpans = counted
  stopCollector = () => server.stop(true)
  return { url: `http://127.0.0.1:${server.port}` }
}

// ---------------------------------------------------------------- measuring helpers

/**
 * Write transactions so far on the whole server: each one that writes gets a
 * transaction id, so the snapshot's xmax counts them exactly and at once
 * (pg_stat_database's xact_commit lags by up to seconds, and counts reads).
 */
async function commitsSoFar(): Promise<number | undefined> {
  if (!sql) return undefined
  const [row] = await sql`select pg_snapshot_xmax(pg_current_snapshot())::text::bigint as xmax`
  return Number(row!.xmax)
}

function rssKb(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const match = /VmRSS:\s+(\d+) kB/.exec(status)
    return match ? Number(match[1]) : undefined
  } catch {
    return undefined
  }
}

/** CPU seconds (user + system) used so far by a process, or by it and its children (PostgreSQL's backends). */
function cpuSeconds(pid: number, withChildren = false): number {
  const ticks = (p: number) => {
    try {
      const fields = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ')
      return Number(fields[11]) + Number(fields[12])
    } catch {
      return 0
    }
  }
  let total = ticks(pid)
  if (withChildren) {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue
      try {
        const ppid = Number(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]!.split(' ')[1])
        if (ppid === pid) total += ticks(Number(entry))
      } catch {}
    }
  }
  return total / 100 // USER_HZ
}

/** Where the CPU went during a phase: the profile that says what limits throughput. */
function watchCpu() {
  const components: Record<string, () => number> = { loadGenerator: () => cpuSeconds(process.pid) }
  for (const [name, pid] of Object.entries(pids)) components[name] = () => cpuSeconds(pid, name === 'postgres')
  const before = Object.fromEntries(Object.entries(components).map(([k, f]) => [k, f()]))
  const started = now()
  return {
    stop() {
      const seconds = (now() - started) / 1000
      return {
        wallSeconds: Math.round(seconds * 100) / 100,
        cpuSeconds: Object.fromEntries(Object.entries(components).map(([k, f]) => [k, Math.round((f() - before[k]!) * 100) / 100])),
      }
    },
  }
}

function watchMemory() {
  const peaks: Record<string, number> = {}
  const timer = setInterval(() => {
    for (const [name, pid] of Object.entries(pids)) {
      const kb = rssKb(pid)
      if (kb !== undefined) peaks[name] = Math.max(peaks[name] ?? 0, kb)
    }
  }, 200)
  return {
    stop() {
      clearInterval(timer)
      return Object.fromEntries(Object.entries(peaks).map(([k, v]) => [k, Math.round((v / 1024) * 10) / 10]))
    },
  }
}

/** Bearer tokens of the benchmark's users, by user name (prepareUsers signs each up). */
const tokens = new Map<string, string>()
const bearer = (username: string) => ({ authorization: `Bearer ${tokens.get(username) ?? 'none'}` })

async function call(method: string, path: string, username: string, body?: unknown) {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { ...bearer(username), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  return { status: response.status, body: (await response.json().catch(() => undefined)) as Record<string, unknown> | undefined }
}

// ---------------------------------------------------------------- planning

function plan(prefix: string, users: number, orders: number): { users: Map<string, number>; orders: PlannedOrder[] } {
  const ids = Array.from({ length: users }, (_, i) => `${prefix}-u${i}`)
  const affordable = new Map<string, number>(ids.map((id) => [id, 0]))
  const planned: PlannedOrder[] = []
  for (let i = 0; i < orders; i++) {
    const userId = ids[i % users]!
    const over = i % 5 === 4 // every fifth order: 20% over budget
    if (over) planned.push({ userId, amount: -1, expected: 'CANCELLED' })
    else {
      const amount = 100 + ((i * 7919) % 9900) // 1.00 to 100.99, varied
      affordable.set(userId, affordable.get(userId)! + amount)
      planned.push({ userId, amount, expected: 'FINISHED' })
    }
  }
  // An over-budget order costs more than everything the user will ever have.
  for (const order of planned) if (order.amount < 0) order.amount = affordable.get(order.userId)! + 1 + (planned.indexOf(order) % 100)
  return { users: affordable, orders: planned }
}

/** Signs a user up and gets its API token, as any client would (POST /api/auth/users, /api/auth/token). */
async function signUp(username: string): Promise<void> {
  const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password: `bench-password-${username}` }) }
  const created = await fetch(`${baseUrl}/api/auth/users`, init)
  if (created.status !== 201) throw new Error(`sign up ${username}: ${created.status} ${await created.text()}`)
  const token = await fetch(`${baseUrl}/api/auth/token`, init)
  if (token.status !== 200) throw new Error(`token for ${username}: ${token.status}`)
  tokens.set(username, ((await token.json()) as { accessToken: string }).accessToken)
}

async function prepareUsers(topUps: Map<string, number>): Promise<void> {
  await Promise.all(
    [...topUps].map(async ([userId, amount]) => {
      await signUp(userId)
      const opened = await call('POST', '/api/payments/account', userId)
      if (opened.status !== 201 && opened.status !== 200) throw new Error(`open account ${userId}: ${opened.status}`)
      if (amount > 0) {
        const topped = await call('POST', '/api/payments/account/top-up', userId, { amount })
        if (topped.status !== 200) throw new Error(`top up ${userId}: ${topped.status}`)
      }
    }),
  )
}

// ---------------------------------------------------------------- following through the live stream

function follow(userIds: string[]) {
  const byId = new Map<string, Tracked>()
  const early = new Map<string, { at: number; status: string }>()
  const sockets: WebSocket[] = []
  let finals = 0
  let wsErrors = 0
  const wsUrl = `${baseUrl.replace(/^http/, 'ws')}/api/orders/live`
  const opened = userIds.map(
    (userId) =>
      new Promise<void>((resolve, reject) => {
        const ws = new WebSocket(wsUrl, { headers: bearer(userId) } as unknown as string[])
        ws.onopen = () => resolve()
        ws.onerror = () => {
          wsErrors += 1
          reject(new Error(`live stream for ${userId} failed`))
        }
        ws.onmessage = (event) => {
          const at = now()
          const message = JSON.parse(String(event.data)) as { orderId: string; status: string }
          if (message.status === 'NEW') return
          const tracked = byId.get(message.orderId)
          if (!tracked) early.set(message.orderId, { at, status: message.status })
          else if (tracked.finalAt === undefined) {
            tracked.finalAt = at
            tracked.status = message.status
            finals += 1
          }
        }
        sockets.push(ws)
      }),
  )
  return {
    ready: Promise.all(opened),
    register(order: Tracked) {
      byId.set(order.id!, order)
      const seen = early.get(order.id!)
      if (seen && order.finalAt === undefined) {
        order.finalAt = seen.at
        order.status = seen.status
        finals += 1
      }
    },
    finals: () => finals,
    wsErrors: () => wsErrors,
    close: () => {
      for (const ws of sockets) ws.close()
    },
  }
}

async function place(order: Tracked, follower: ReturnType<typeof follow>): Promise<void> {
  try {
    const response = await call('POST', '/api/orders', order.userId, { amount: order.amount })
    order.createdAt = now()
    order.httpStatus = response.status
    if (response.status !== 201) {
      order.error = `HTTP ${response.status}`
      return
    }
    order.id = response.body!.id as string
    follower.register(order)
  } catch (error) {
    order.error = String(error)
  }
}

async function waitForFinals(tracked: Tracked[], follower: ReturnType<typeof follow>): Promise<void> {
  const expected = tracked.filter((t) => t.id).length
  const deadline = now() + settings.settleMs
  while (follower.finals() < expected && now() < deadline) await Bun.sleep(10)
}

// ---------------------------------------------------------------- checks

async function moneyCheck(topUps: Map<string, number>, tracked: Tracked[]) {
  let mismatched = 0
  let negative = 0
  let stuck = 0
  let wrongOutcome = 0
  for (const [userId, topUp] of topUps) {
    const account = await call('GET', '/api/payments/account', userId)
    const balance = Number(account.body?.balance)
    const finished = tracked.filter((t) => t.userId === userId && t.status === 'FINISHED').reduce((sum, t) => sum + t.amount, 0)
    if (balance !== topUp - finished) mismatched += 1
    if (balance < 0) negative += 1
    const waiting = await call('GET', '/api/orders?status=NEW&limit=100', userId)
    stuck += ((waiting.body?.items as unknown[]) ?? []).length
  }
  for (const t of tracked) if (t.status && t.status !== t.expected) wrongOutcome += 1
  return { usersChecked: topUps.size, balanceMismatches: mismatched, negativeBalances: negative, stuckInNew: stuck, unexpectedOutcomes: wrongOutcome }
}

function report(tracked: Tracked[], window: { start: number; end: number }) {
  const created = tracked.filter((t) => t.createdAt !== undefined && !t.error)
  const final = tracked.filter((t) => t.finalAt !== undefined)
  const lastCreate = Math.max(...created.map((t) => t.createdAt!))
  const lastFinal = Math.max(...final.map((t) => t.finalAt!))
  const seconds = (ms: number) => ms / 1000
  return {
    orders: tracked.length,
    created: created.length,
    finalised: final.length,
    errors: tracked.filter((t) => t.error).length + (tracked.length - final.length),
    httpCreate: {
      perSecond: Math.round(created.length / seconds(lastCreate - window.start)),
      latencyMs: summarize(created.map((t) => t.createdAt! - t.sentAt)),
    },
    endToEnd: {
      finalisedPerSecond: Math.round(final.length / seconds(lastFinal - window.start)),
      createToFinalMs: summarize(final.map((t) => t.finalAt! - t.sentAt)),
    },
  }
}

/** With --pg-statements: where PostgreSQL spent its time, per statement, across both databases. */
async function resetStatements(): Promise<void> {
  if (!sql || !args['pg-statements']) return
  for (const database of [DEFAULTS.ordersDatabase, DEFAULTS.paymentsDatabase]) {
    const db = postgres(databaseUrl!.replace(/\/postgres$/, `/${database}`), { max: 1, onnotice: () => {} })
    await db`create extension if not exists pg_stat_statements`
    await db`select pg_stat_statements_reset()`
    await db.end()
  }
}

async function topStatements(): Promise<unknown[] | undefined> {
  if (!sql || !args['pg-statements']) return undefined
  const rows = []
  for (const database of [DEFAULTS.ordersDatabase, DEFAULTS.paymentsDatabase]) {
    const db = postgres(databaseUrl!.replace(/\/postgres$/, `/${database}`), { max: 1, onnotice: () => {} })
    const top = await db`
      select ${database} as database, calls, round(total_exec_time::numeric, 1) as exec_ms, round(total_plan_time::numeric, 1) as plan_ms,
             left(regexp_replace(query, '[[:space:]]+', ' ', 'g'), 120) as query
      from pg_stat_statements where dbid = (select oid from pg_database where datname = ${database})
      order by total_exec_time + total_plan_time desc limit 6`
    rows.push(...top)
    await db.end()
  }
  return rows
}

// ---------------------------------------------------------------- the two modes

async function runPhase(
  name: string,
  prefix: string,
  orders: number,
  users: number,
  drive: (tracked: Tracked[], follower: ReturnType<typeof follow>) => Promise<void>,
) {
  const planned = plan(prefix, users, orders)
  await prepareUsers(planned.users)
  const follower = follow([...planned.users.keys()])
  await follower.ready
  await Bun.sleep(1500)
  await resetStatements()
  const commitsBefore = await commitsSoFar()
  const memory = watchMemory()
  const cpu = watchCpu()
  const tracked: Tracked[] = planned.orders.map((o) => ({ ...o, sentAt: 0 }))
  const start = now()
  await drive(tracked, follower)
  await waitForFinals(tracked, follower)
  const end = now()
  const peakRssMb = memory.stop()
  const profile = cpu.stop()
  follower.close()
  await Bun.sleep(1500) // let the statistics views catch up
  const commitsAfter = await commitsSoFar()
  const result = {
    ...report(tracked, { start, end }),
    dbCommitsPerOrder: commitsBefore === undefined || commitsAfter === undefined ? null : Math.round(((commitsAfter - commitsBefore) / orders) * 100) / 100,
    peakRssMb,
    profile,
    liveStreamErrors: follower.wsErrors(),
    postgresStatements: await topStatements(),
    money: await moneyCheck(planned.users, tracked),
  }
  console.error(
    `${name}: ${JSON.stringify({ e2e: result.endToEnd, http: result.httpCreate.perSecond, commits: result.dbCommitsPerOrder, rss: result.peakRssMb, cpu: result.profile, errors: result.errors })}`,
  )
  return result
}

function burst(_runId: string) {
  return runPhase('burst', `b${userTag}`, settings.orders, settings.users, async (tracked, follower) => {
    let next = 0
    await Promise.all(
      Array.from({ length: settings.concurrency }, async () => {
        while (next < tracked.length) {
          const order = tracked[next++]!
          order.sentAt = now()
          await place(order, follower)
        }
      }),
    )
  })
}

function steady(_runId: string, rate: number, seconds = settings.seconds) {
  const orders = rate * seconds
  return runPhase(`steady ${rate}/s`, `s${rate}-${userTag}`, orders, settings.users, async (tracked, follower) => {
    // Open loop: orders leave on schedule whether or not earlier ones answered.
    const start = now()
    const inFlight: Promise<void>[] = []
    let sent = 0
    while (sent < tracked.length) {
      const due = Math.min(tracked.length, Math.floor(((now() - start) / 1000) * rate) + 1)
      while (sent < due) {
        const order = tracked[sent++]!
        order.sentAt = start + ((sent - 1) * 1000) / rate
        inFlight.push(place(order, follower))
      }
      await Bun.sleep(2)
    }
    await Promise.all(inFlight)
  })
}

/**
 * The knee: open-loop rates from --knee-start up by --knee-step, each held
 * --knee-seconds; the highest one where every order finished, at the rate
 * asked, with create→final p99 within --knee-p99-ms.
 */
async function knee(runId: string) {
  const [start, step, seconds, p99Limit] = [args['knee-start'], args['knee-step'], args['knee-seconds'], args['knee-p99-ms']].map(Number) as [
    number,
    number,
    number,
    number,
  ]
  const steps = []
  let held: number | null = null
  for (let rate = start; ; rate += step) {
    const result = await steady(runId, rate, seconds)
    const e2e = result.endToEnd
    const ok = result.errors === 0 && e2e.finalisedPerSecond >= rate * 0.97 && e2e.createToFinalMs.p99 <= p99Limit && result.money.balanceMismatches === 0
    steps.push({
      rate,
      ok,
      finalisedPerSecond: e2e.finalisedPerSecond,
      p50: e2e.createToFinalMs.p50,
      p99: e2e.createToFinalMs.p99,
      cpu: result.profile,
      commits: result.dbCommitsPerOrder,
      liveStreamErrors: result.liveStreamErrors,
    })
    console.error(`knee ${rate}/s for ${seconds} s: ${ok ? 'held' : 'not held'} (p99 ${e2e.createToFinalMs.p99} ms, ${e2e.finalisedPerSecond}/s)`)
    if (!ok) break
    held = rate
  }
  return { p99LimitMs: p99Limit, seconds, heldPerSecond: held, steps }
}

// ---------------------------------------------------------------- main

const runId = new Date().toISOString().replace(/[:.]/g, '-')
/** Short and lower-case: user names are 3-32 of a-z 0-9 . _ - */
const userTag = Date.now().toString(36)
const results: Record<string, unknown> = {
  startedAt: new Date().toISOString(),
  command: `bun run bench ${process.argv.slice(2).join(' ')}`.trim(),
  machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGb: Math.round(totalmem() / 2 ** 30) },
  target: args.url ?? 'started by the benchmark (as bun start)',
  settings,
}
try {
  if (mode === 'burst' || mode === 'both') results.burst = await burst(runId.slice(-6))
  if (mode === 'steady' || mode === 'both') {
    const steadyResults = []
    for (const rate of settings.rates) steadyResults.push({ rate, ...(await steady(runId.slice(-6), rate)) })
    results.steady = steadyResults
  }
  if (args.knee) results.knee = await knee(runId.slice(-6))
} finally {
  await sql?.end()
  if (gozon) await gozon.stop()
}
// After the stop, which flushes every exporter.
if (tracedSpans) results.tracing = tracedSpans
stopCollector?.()

const dir = join(import.meta.dir, 'results')
mkdirSync(dir, { recursive: true })
const file = join(dir, `${runId}.json`)
writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`)
const steadyRuns = results.steady as { rate: number; endToEnd: { createToFinalMs: { p50: number; p99: number; max: number } } }[] | undefined
if (steadyRuns?.length) {
  const points = steadyRuns.map((r) => ({ rate: r.rate, ...r.endToEnd.createToFinalMs }))
  writeFileSync(join(dir, 'latency.svg'), latencyChart(points, `Gozon: create → final latency (${settings.seconds} s per rate)`))
}
console.log(JSON.stringify(results, null, 2))
console.error(`results: ${file}`)

// `bun bench/rate-limit-stores.ts`: what one rate-limit take costs in each
// store a limit shared by several instances could live in, to back the choice
// in shared/http/rate-limit.ts with numbers.
//
//   memory                 the per-instance token bucket Gozon had before (not shared: the baseline)
//   postgres (unlogged)    what Gozon uses: one INSERT … ON CONFLICT DO UPDATE per take
//   postgres (logged)      the same statement on an ordinary table (WAL and a commit flush per take)
//   jetstream kv (R1)      get, then a revision-checked update (retried on conflict), one node
//   jetstream kv (R3)      the same on a three-node cluster, bucket with three replicas
//
// Every server is started here on free loopback ports with throw-away data,
// with the settings Gozon uses (PostgreSQL with fsync; nats-server with
// `sync_interval: always`). Two shapes: one caller taking tokens one after
// the other (the latency a request pays), 32 concurrent callers over 50
// keys (the cost under load), and 8 callers on one key (contention).
//
//   bun bench/rate-limit-stores.ts [--takes 2000]
import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Kvm } from '@nats-io/kv'
import { connect } from '@nats-io/transport-node'
import { freePort } from '../launcher/free-port'
import { startNats, startNatsCluster } from '../launcher/nats'
import { startPostgres } from '../launcher/postgres'
import { connectDatabase } from '../shared/db/client'
import { migrateDatabase } from '../shared/db/migrate'
import { rateLimitBuckets } from '../shared/db/rate-limit-table'
import { type RateLimit, RateLimiter } from '../shared/http/rate-limit'

const { values: args } = parseArgs({ options: { takes: { type: 'string', default: '2000' } } })
const TAKES = Number(args.takes)
const KEYS = 50
const CONCURRENCY = 32
// Generous: every take is granted, so each store does its full write path.
const LIMIT: RateLimit = { burst: 1_000_000, perSecond: 1_000_000 }

type Take = (key: string) => Promise<unknown>

/** The bucket arithmetic of the old in-memory limiter. */
function memoryTake(): Take {
  const buckets = new Map<string, { tokens: number; at: number }>()
  return async (key) => {
    const now = performance.now()
    const b = buckets.get(key) ?? { tokens: LIMIT.burst, at: now }
    b.tokens = Math.min(LIMIT.burst, b.tokens + ((now - b.at) / 1000) * LIMIT.perSecond) - 1
    b.at = now
    buckets.set(key, b)
  }
}

/** A take on a JetStream KV bucket: read the bucket's state, write it back only if nobody else did meanwhile. */
async function kvTake(kv: Awaited<ReturnType<Kvm['create']>>, key: string): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const entry = await kv.get(key)
    const now = Date.now()
    const state = entry && entry.operation === 'PUT' ? (entry.json() as { tokens: number; at: number }) : undefined
    const tokens = Math.min(LIMIT.burst, state ? state.tokens + ((now - state.at) / 1000) * LIMIT.perSecond : LIMIT.burst)
    const value = JSON.stringify({ tokens: tokens - 1, at: now })
    try {
      if (entry) await kv.update(key, value, entry.revision)
      else await kv.create(key, value)
      return attempt
    } catch (error) {
      // "wrong last sequence": another caller took from this bucket first; read again.
      if (attempt > 1000) throw error
    }
  }
}

async function measure(
  name: string,
  take: Take,
): Promise<{ name: string; sequentialUs: { p50: number; p99: number }; concurrentUsPerTake: number; hotKeyUsPerTake: number }> {
  for (let i = 0; i < 200; i++) await take(`warm-${i % KEYS}`)
  const times: number[] = []
  for (let i = 0; i < TAKES; i++) {
    const started = performance.now()
    await take(`user-${i % KEYS}`)
    times.push((performance.now() - started) * 1000)
  }
  times.sort((a, b) => a - b)
  let next = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < TAKES) await take(`user-${next++ % KEYS}`)
    }),
  )
  const concurrentUsPerTake = ((performance.now() - started) * 1000) / TAKES
  // One shopper's key taken by 8 callers at once (one user's requests landing on every instance).
  let hot = 0
  const hotStarted = performance.now()
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (hot++ < TAKES / 4) await take('hot-user')
    }),
  )
  const hotKeyUsPerTake = ((performance.now() - hotStarted) * 1000) / (TAKES / 4)
  const at = (q: number) => Math.round(times[Math.min(times.length - 1, Math.floor(q * times.length))]!)
  return {
    name,
    sequentialUs: { p50: at(0.5), p99: at(0.99) },
    concurrentUsPerTake: Math.round(concurrentUsPerTake),
    hotKeyUsPerTake: Math.round(hotKeyUsPerTake),
  }
}

const root = mkdtempSync(join(tmpdir(), 'gozon-limits-'))
chmodSync(root, 0o755) // PostgreSQL may run as another user (launcher/postgres.ts)
const results = []
const pg = await startPostgres({ dataDir: join(root, 'postgres'), port: await freePort(), user: 'gozon', password: 'gozon' })
const nats = await startNats({ storeDir: join(root, 'nats'), port: await freePort() })
const cluster = await startNatsCluster({
  rootDir: join(root, 'cluster'),
  clientPorts: [await freePort(), await freePort(), await freePort()],
  routePorts: [await freePort(), await freePort(), await freePort()],
})
try {
  results.push(await measure('memory (per instance, not shared)', memoryTake()))

  // The orders service's migrations make the table as Gozon has it: UNLOGGED.
  const unloggedUrl = pg.url('limits_unlogged')
  await migrateDatabase(unloggedUrl, join(import.meta.dir, '..', 'drizzle', 'orders'))
  const unlogged = connectDatabase(unloggedUrl, { rateLimitBuckets }, { max: CONCURRENCY })
  const limiterU = new RateLimiter(unlogged.$client, 'bench', LIMIT)
  results.push(await measure('postgres, unlogged table (Gozon)', (k) => limiterU.tryTake(k)))

  const loggedUrl = pg.url('limits_logged')
  await migrateDatabase(loggedUrl, join(import.meta.dir, '..', 'drizzle', 'orders'))
  const logged = connectDatabase(loggedUrl, { rateLimitBuckets }, { max: CONCURRENCY })
  await logged.$client`alter table rate_limit_buckets set logged`
  const limiterL = new RateLimiter(logged.$client, 'bench', LIMIT)
  results.push(await measure('postgres, logged table', (k) => limiterL.tryTake(k)))

  for (const [label, url, replicas] of [
    ['jetstream kv, one node', nats.url, 1],
    ['jetstream kv, three nodes (R3)', cluster.url, 3],
  ] as const) {
    const nc = await connect({ servers: url.split(',') })
    const kv = await new Kvm(nc).create('rate_limits', { history: 1, replicas })
    let conflicts = 0
    const r = await measure(label, async (k) => {
      conflicts += (await kvTake(kv, k)) - 1
    })
    results.push({ ...r, conflicts })
    await nc.close()
  }
  await unlogged.$client.end()
  await logged.$client.end()
} finally {
  await cluster.stop()
  await nats.stop()
  await pg.stop()
  rmSync(root, { recursive: true, force: true })
}

console.log(`\nOne rate-limit take (${TAKES} takes over ${KEYS} keys; concurrent: ${CONCURRENCY} callers)\n`)
console.log('| store | one caller: p50 µs | p99 µs | 32 callers, 50 keys: µs per take | 8 callers, one key: µs per take |')
console.log('| --- | --- | --- | --- | --- |')
for (const r of results) {
  const conflicts = 'conflicts' in r ? ` (${r.conflicts} revision conflicts retried)` : ''
  console.log(`| ${r.name} | ${r.sequentialUs.p50} | ${r.sequentialUs.p99} | ${r.concurrentUsPerTake} | ${r.hotKeyUsPerTake}${conflicts} |`)
}

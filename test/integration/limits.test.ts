// Limits: body size, per-user rates, live sockets.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { LIVE_LIMITS } from '../../gateway/live-routes'
import { connectDatabase } from '../../shared/db/client'
import { migrateDatabase } from '../../shared/db/migrate'
import { rateLimitBuckets } from '../../shared/db/rate-limit-table'
import { RateLimiter } from '../../shared/http/rate-limit'
import { freshDatabaseUrl } from '../support/infra'
import { pollUntil } from '../support/poll'
import { openSocket } from '../support/socket'
import { startSystem, type TestSystem } from '../support/system'

let sys: TestSystem
beforeAll(async () => {
  sys = await startSystem({ env: { RATE_LIMIT_BURST: '5', RATE_LIMIT_PER_SECOND: '1' } })
  await sys.openAccount('limited', 1_000_000)
})
afterAll(() => sys.stop())

describe('request bodies', () => {
  test('a body over 16 KiB is refused with 413 before it is parsed, and nothing is written', async () => {
    const response = await fetch(`${sys.gateway.url}/api/orders`, {
      method: 'POST',
      headers: { ...sys.bearer('limited'), 'content-type': 'application/json' },
      body: JSON.stringify({ amount: 5, description: 'x'.repeat(17 * 1024) }),
    })
    expect(response.status).toBe(413)
    expect((await response.json()).error).toBe('payload_too_large')
    expect((await sys.api('GET', '/api/orders', { user: 'limited' })).body.items).toHaveLength(0)
  })
})

describe('rate limits', () => {
  test('order creation past the per-user burst gets 429 with Retry-After; other users are not affected', async () => {
    const results = await Promise.all(Array.from({ length: 8 }, () => sys.api('POST', '/api/orders', { user: 'limited', body: { amount: 1 } })))
    expect(results.filter((r) => r.status === 201)).toHaveLength(5)
    const refused = results.filter((r) => r.status === 429)
    expect(refused).toHaveLength(3)
    expect(refused[0]!.body.error).toBe('rate_limited')
    expect(Number(refused[0]!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect((await sys.api('GET', '/api/orders', { user: 'limited' })).body.items).toHaveLength(5)
    // The take rides in the order's statement: a refused order wrote no outbox row either.
    const [outbox] = await sys.ordersSql`select count(*)::int as n from outbox where payload->>'userId' = 'limited'`
    expect(outbox!.n).toBe(5)
    await sys.openAccount('neighbour')
    expect((await sys.api('POST', '/api/orders', { user: 'neighbour', body: { amount: 1 } })).status).toBe(201)
  })

  test('a refused order with an Idempotency-Key is not remembered: the same key succeeds once a token is back', async () => {
    await sys.openAccount('keyed')
    const key = crypto.randomUUID()
    const headers = { 'idempotency-key': key }
    const burst = await Promise.all(Array.from({ length: 5 }, () => sys.api('POST', '/api/orders', { user: 'keyed', body: { amount: 1 } })))
    expect(burst.map((r) => r.status)).toEqual([201, 201, 201, 201, 201])
    const refused = await sys.api('POST', '/api/orders', { user: 'keyed', body: { amount: 2 }, headers })
    expect(refused.status).toBe(429)
    await Bun.sleep(Number(refused.headers.get('retry-after')) * 1000 + 100)
    const retried = await sys.api('POST', '/api/orders', { user: 'keyed', body: { amount: 2 }, headers })
    expect(retried.status).toBe(201)
    const replayed = await sys.api('POST', '/api/orders', { user: 'keyed', body: { amount: 2 }, headers })
    expect(replayed.status).toBe(201)
    expect(replayed.body.id).toBe(retried.body.id)
    expect((await sys.api('GET', '/api/orders', { user: 'keyed' })).body.items).toHaveLength(6)
  })

  test('the proof of a refused order with a key stays used: replayed without the key at another instance, it is refused', async () => {
    const other = await sys.startAnotherInstance('orders')
    try {
      await sys.openAccount('drained')
      const body = JSON.stringify({ amount: 3 })
      const post = (base: string, headers: Record<string, string>) =>
        fetch(`${base}/api/orders`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body })
      for (let i = 0; i < 5; i++)
        expect((await post(sys.orders.url, sys.proofFor('drained', 'orders', { method: 'POST', path: '/api/orders', body }))).status).toBe(201)
      const proof = sys.proofFor('drained', 'orders', { method: 'POST', path: '/api/orders', body })
      const refused = await post(sys.orders.url, { ...proof, 'idempotency-key': crypto.randomUUID() })
      expect(refused.status).toBe(429)
      await Bun.sleep(Number(refused.headers.get('retry-after')) * 1000 + 100)
      // The rolled-back work did not take the nonce's claim with it.
      expect((await post(other.url, proof)).status).toBe(401)
      const [count] = await sys.ordersSql`select count(*)::int as n from orders where user_id = 'drained'`
      expect(count!.n).toBe(5)
    } finally {
      await other.stop()
    }
  })

  test('top-ups are limited the same way', async () => {
    const results = await Promise.all(
      Array.from({ length: 7 }, () => sys.api('POST', '/api/payments/account/top-up', { user: 'neighbour', body: { amount: 1 } })),
    )
    expect(results.filter((r) => r.status === 200)).toHaveLength(5)
    expect(results.filter((r) => r.status === 429)).toHaveLength(2)
  })
})

describe('one limit for every instance (shared/http/rate-limit.ts, in PostgreSQL)', () => {
  test('two instances, each with its own pool, together allow the burst once, under concurrency', async () => {
    const url = await freshDatabaseUrl('limits')
    await migrateDatabase(url, join(import.meta.dir, '..', '..', 'drizzle', 'orders'))
    const pools = [connectDatabase(url, { rateLimitBuckets }), connectDatabase(url, { rateLimitBuckets })]
    try {
      const limit = { burst: 10, perSecond: 0.5 }
      const [first, second] = pools.map((db) => new RateLimiter(db.$client, 'orders.create', limit))
      const takes = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? first! : second!).tryTake('ann')))
      expect(takes.filter((wait) => wait === undefined)).toHaveLength(10)
      // Refused: Retry-After is the whole seconds until one token is back (2 s at 0.5/s).
      const waits = takes.filter((wait) => wait !== undefined)
      expect(waits).toHaveLength(30)
      for (const wait of waits) expect(wait).toBeGreaterThanOrEqual(1)
      expect(Math.max(...(waits as number[]))).toBeLessThanOrEqual(2)
      // Another key, another limit with the same table: untouched.
      expect(await first!.tryTake('bob')).toBeUndefined()
      expect(await new RateLimiter(pools[0]!.$client, 'payments.top-up', limit).tryTake('ann')).toBeUndefined()
      // One row per key; refusals wrote nothing.
      const rows = await pools[0]!.$client`select key, tokens from rate_limit_buckets order by key`
      expect(rows.map((r) => r.key)).toEqual(['orders.create:ann', 'orders.create:bob', 'payments.top-up:ann'])
      expect(Number(rows[0]!.tokens)).toBeLessThan(1)
      // It refills at the rate: a token is back after 2 s.
      await Bun.sleep(2100)
      expect(await second!.tryTake('ann')).toBeUndefined()
      expect(await first!.tryTake('ann')).toBeGreaterThanOrEqual(1)
    } finally {
      await Promise.all(pools.map((db) => db.$client.end()))
    }
  })

  test('the table is UNLOGGED: a take writes no WAL', async () => {
    const url = await freshDatabaseUrl('limitsrel')
    await migrateDatabase(url, join(import.meta.dir, '..', '..', 'drizzle', 'payments'))
    const db = connectDatabase(url, { rateLimitBuckets })
    try {
      const [row] = await db.$client`select relpersistence from pg_class where relname = 'rate_limit_buckets'`
      expect(row!.relpersistence).toBe('u')
    } finally {
      await db.$client.end()
    }
  })
})

describe('live sockets', () => {
  const liveUrl = () => `${sys.gateway.url.replace('http', 'ws')}/api/orders/live`

  test(`a user may hold ${LIVE_LIMITS.socketsPerUser} sockets on one gateway; the next is closed with 1008`, async () => {
    const sockets = await Promise.all(Array.from({ length: LIVE_LIMITS.socketsPerUser }, () => openSocket(liveUrl(), sys.bearer('many'))))
    const extra = await openSocket(liveUrl(), sys.bearer('many'))
    expect((await extra.closed).code).toBe(1008)
    expect(sys.gateway.hub.socketCount('many')).toBe(LIVE_LIMITS.socketsPerUser)
    // Another user is not affected: their socket is registered and stays open.
    const other = await openSocket(liveUrl(), sys.bearer('someone-else'))
    await pollUntil(
      "the other user's socket registered",
      () => sys.gateway.hub.socketCount('someone-else'),
      (n) => n === 1,
    )
    expect(await Promise.race([other.closed, Bun.sleep(0).then(() => 'open')])).toBe('open')
    for (const s of [...sockets, other]) s.close()
  })

  test('a message larger than the cap closes the socket', async () => {
    const socket = await openSocket(liveUrl(), sys.bearer('chatty'))
    socket.send('x'.repeat(LIVE_LIMITS.maxPayloadBytes + 1))
    expect((await socket.closed).code).toBe(1009)
  })
})

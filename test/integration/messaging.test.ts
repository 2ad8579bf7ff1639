// The outbox relay and inbox consumer's own promises: woken by commit, not by
// polling; published rows cleaned up; transient failures retried, not lost.
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import { loadOrdersConfig } from '../../orders/config'
import { loadPaymentsConfig } from '../../payments/config'
import { arrayParam, connectDatabase, runPrepared } from '../../shared/db/client'
import { migrateDatabase } from '../../shared/db/migrate'
import { createLogger } from '../../shared/logger'
import { CONSUMERS } from '../../shared/messaging/contracts'
import { OutboxRelay } from '../../shared/messaging/outbox-relay'
import { freshDatabaseUrl, sqlClient } from '../support/infra'
import { eventually, pollUntil } from '../support/poll'
import { METRICS_SCRAPE, startSystem, type TestSystem } from '../support/system'

let sys: TestSystem
beforeAll(async () => {
  // A one-minute poll: anything faster than that proves the in-process wake-up.
  sys = await startSystem({ env: { RELAY_POLL_INTERVAL_MS: '60000', OUTBOX_RETENTION_MS: '0' } })
})
afterAll(() => sys.stop())

test('the relays are woken by the commit: an order is final in milliseconds with a one-minute poll interval', async () => {
  await sys.openAccount('quick', 1000)
  // No need to let the relays settle first: a sweeping round leaves rows younger than its
  // grace period (RELAY_GRACE_MS), so within that time only the publish on commit can send them.
  const graceMs = Math.min(loadOrdersConfig(sys.env).relay.graceMs, loadPaymentsConfig(sys.env).relay.graceMs)
  expect(graceMs).toBeGreaterThanOrEqual(2000)
  const started = performance.now()
  const id = await sys.createOrder('quick', 10)
  const order = await sys.waitForFinal('quick', id, 5000)
  const elapsed = performance.now() - started
  expect(order.status).toBe('FINISHED')
  expect(elapsed).toBeLessThan(graceMs)
})

test('published outbox rows are deleted after the retention period', async () => {
  await sys.openAccount('tidy', 1000)
  const id = await sys.createOrder('tidy', 10)
  await sys.waitForFinal('tidy', id)
  // Eagerly published rows are marked within milliseconds (every 100 ms, in one statement).
  await eventually('every orders outbox row marked published', async () => {
    const [left] = await sys.ordersSql`select count(*)::int as n from outbox where published_at is null`
    return left!.n === 0
  })
  const [before] = await sys.ordersSql`select count(*)::int as n from outbox where published_at is not null`
  expect(before!.n).toBeGreaterThan(0)
  expect(await sys.orders.relay.cleanup()).toBe(before!.n)
  const [after] = await sys.ordersSql`select count(*)::int as n from outbox`
  expect(after!.n).toBe(0)
})

test('a transient database failure is retried with back-off and charged once when it heals', async () => {
  await sys.openAccount('unlucky', 1000)
  const retriedBefore = sys.payments.consumer.stats.retried
  // A real failure inside the payment transaction: its ledger table is gone for a while.
  await sys.paymentsSql`alter table ledger_entries rename to ledger_entries_away`
  let id: string
  try {
    id = await sys.createOrder('unlucky', 400)
    await pollUntil(
      'the payment to fail and be retried',
      () => sys.payments.consumer.stats.retried,
      (n) => n > retriedBefore,
      { timeoutMs: 5000 },
    )
    expect((await sys.api('GET', `/api/orders/${id}`, { user: 'unlucky' })).body.status).toBe('NEW')
    // The failed attempt rolled back entirely: no debit.
    const [account] = await sys.paymentsSql`select balance from accounts where user_id = 'unlucky'`
    expect(Number(account!.balance)).toBe(1000)
  } finally {
    await sys.paymentsSql`alter table ledger_entries_away rename to ledger_entries`
  }
  expect((await sys.waitForFinal('unlucky', id)).status).toBe('FINISHED')
  expect(await sys.balance('unlucky')).toBe(600)
  await sys.waitForConsumerIdle(CONSUMERS.payments.stream, CONSUMERS.payments.durable)
  const [dead] = await sys.paymentsSql`select count(*)::int as n from dead_letters`
  expect(dead!.n).toBe(0)
})

test('two sweeping relays on one outbox share the work without publishing a row twice', async () => {
  // Rows that no one published eagerly (this system's relay is stopped), then two sweepers at once.
  const idle = await startSystem({ ordersRelay: false })
  const relays = [1, 2].map(
    (n) =>
      new OutboxRelay(
        { db: idle.orders.db, nc: idle.orders.nc, log: createLogger(`sweeper-${n}`, 'silent'), name: `orders.sweeper.${n}`, component: 'orders' },
        { pollIntervalMs: 10, batchSize: 7, graceMs: 0 },
      ),
  )
  try {
    await idle.openAccount('busy', 1_000_000)
    const ids = await Promise.all(Array.from({ length: 150 }, () => idle.createOrder('busy', 10)))
    await Promise.all(relays.map((r) => r.start()))
    await Promise.all(ids.map((id) => idle.waitForFinal('busy', id)))
    // Each row was published by exactly one sweeper, once: none reached JetStream twice.
    expect(relays[0]!.stats.published + relays[1]!.stats.published).toBe(150)
    expect(relays[0]!.stats.published).toBeGreaterThan(0)
    expect(relays[1]!.stats.published).toBeGreaterThan(0)
    expect(relays[0]!.stats.duplicates + relays[1]!.stats.duplicates).toBe(0)
    expect(await idle.streamMessages('paymentRequests')).toBe(150)
    expect(await idle.balance('busy')).toBe(1_000_000 - 1500)
  } finally {
    await Promise.all(relays.map((r) => r.stop()))
    await idle.stop()
  }
})

test('services starting together migrate one at a time', async () => {
  const url = await freshDatabaseUrl('race')
  const folder = join(import.meta.dir, '..', '..', 'drizzle', 'payments')
  await Promise.all(Array.from({ length: 4 }, () => migrateDatabase(url, folder)))
  const sql = sqlClient(url)
  try {
    const [row] = await sql`select count(*)::int as n from drizzle.__drizzle_migrations`
    const journal = (await Bun.file(join(folder, 'meta', '_journal.json')).json()) as { entries: unknown[] }
    expect(row!.n).toBe(journal.entries.length)
  } finally {
    await sql.end()
  }
})

test('GET /metrics shows requests by route, the outbox, the consumer and final statuses', async () => {
  await sys.openAccount('metric', 1000)
  const id = await sys.createOrder('metric', 10)
  await sys.waitForFinal('metric', id)
  await sys.waitForConsumerIdle(CONSUMERS.orders.stream, CONSUMERS.orders.durable)
  // Eagerly published rows are marked every 100 ms; payments counts its publish once JetStream acked it.
  await eventually('the orders outbox marked and the payment result counted as published', async () => {
    const [left] = await sys.ordersSql`select count(*)::int as n from outbox where published_at is null`
    return left!.n === 0 && sys.payments.relay.stats.published > 0
  })
  const orders = await (await fetch(`${sys.orders.url}/metrics`, { headers: METRICS_SCRAPE })).text()
  expect(orders).toMatch(/gozon_http_request_duration_seconds_count\{[^}]*method="POST",route="\/api\/orders",status="201"[^}]*\} [1-9]/)
  expect(orders).toMatch(/gozon_outbox_pending_rows\{[^}]*\} 0/)
  expect(orders).toMatch(/gozon_consumer_messages_total\{[^}]*outcome="handled"[^}]*\} [1-9]/)
  expect(orders).toMatch(/gozon_orders_final_total\{[^}]*status="FINISHED"[^}]*\} [1-9]/)
  expect(orders).toContain('gozon_outbox_publish_batch_seconds_bucket')
  expect(orders).toContain('process_resident_memory_bytes')
  const payments = await (await fetch(`${sys.payments.url}/metrics`, { headers: METRICS_SCRAPE })).text()
  expect(payments).toMatch(/gozon_outbox_published_total\{[^}]*result="stored"[^}]*\} [1-9]/)
  expect(payments).toMatch(/gozon_dead_letters\{[^}]*\} \d/)
  const gateway = await fetch(`${sys.gateway.url}/metrics`, { headers: METRICS_SCRAPE })
  expect(await gateway.text()).toContain('gozon_live_sockets')
  // Being on the same machine is not enough: without the token (or with another), every /metrics refuses.
  for (const url of [sys.orders.url, sys.payments.url, sys.gateway.url]) {
    for (const headers of [
      {} as Record<string, string>,
      { authorization: 'Bearer not-the-metrics-token' },
      { authorization: `Bearer ${sys.tokenFor('metric')}` },
    ]) {
      const refused = await fetch(`${url}/metrics`, { headers })
      expect([url, refused.status]).toEqual([url, 401])
    }
  }
})

test('the hot statements are prepared on the server: the relay claim and marks, the inbox insert, the order statement', async () => {
  const url = await freshDatabaseUrl('prepared')
  await migrateDatabase(url, join(import.meta.dir, '..', '..', 'drizzle', 'orders'))
  // One connection, so pg_prepared_statements (a per-session view) sees what the code prepared on it.
  const db = connectDatabase(url, {}, { max: 1 })
  try {
    const relay = new OutboxRelay(
      { db, nc: sys.orders.nc, log: createLogger('prepared', 'silent'), name: 'orders.prepared', component: 'orders' },
      { graceMs: 0 },
    )
    await relay.publishBatch()
    await db.transaction((tx) => runPrepared(tx, 'inbox.check', sql`select count(*) from inbox where message_id = any(${arrayParam(['a', 'b'], 'text')})`))
    await runPrepared(db, 'two', sql`select ${2}::int as two`)
    await runPrepared(db, 'two', sql`select ${3}::int as two`) // the same text: the same statement
    const statements = (await db.$client`select statement from pg_prepared_statements`).map((r) => String(r.statement))
    expect(statements.some((s) => s.startsWith('update "outbox" set "claimed_until"'))).toBe(true)
    expect(statements.some((s) => s.startsWith('select count(*) from inbox where message_id = any('))).toBe(true)
    expect(statements.filter((s) => s === 'select $1::int as two')).toHaveLength(1)
  } finally {
    await db.$client.end({ timeout: 5 })
  }
})

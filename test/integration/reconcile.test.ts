// `bun run reconcile`: both databases built by the real migrations, filled
// with consistent rows (exit 0 and the summary line), then each kind of
// discrepancy introduced on rows of its own (each reported with its ids, and
// nothing else; exit 1), through the module and as a real subprocess.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { Sql } from 'postgres'
import { freePort } from '../../launcher/free-port'
import { databaseUrls, parseDuration } from '../../launcher/reconcile'
import { migrateDatabase } from '../../shared/db/migrate'
import { type Discrepancy, formatDiscrepancy } from '../../shared/reconcile/checks'
import { reconcile } from '../../shared/reconcile/read'
import { freshDatabaseUrl, infra, sqlClient } from '../support/infra'

const root = join(import.meta.dir, '..', '..')

async function freshPair(label: string, urls?: { orders: string; payments: string }) {
  const orders = urls?.orders ?? (await freshDatabaseUrl(`${label}orders`))
  const payments = urls?.payments ?? (await freshDatabaseUrl(`${label}payments`))
  await migrateDatabase(orders, join(root, 'drizzle', 'orders'))
  await migrateDatabase(payments, join(root, 'drizzle', 'payments'))
  return { urls: { orders, payments }, ordersSql: sqlClient(orders), paymentsSql: sqlClient(payments) }
}

type Pair = Awaited<ReturnType<typeof freshPair>>

/** Writes rows the way the services would (or, where a test says so, the way they never should). */
function shop(db: Pair) {
  const { ordersSql: o, paymentsSql: p } = db
  const move = async (user: string, delta: number) =>
    Number((await p`update accounts set balance = balance + ${delta} where user_id = ${user} returning balance`)[0]!.balance)
  return {
    async account(user: string, topUp = 0) {
      await p`insert into accounts (user_id) values (${user})`
      if (topUp > 0) await this.topUp(user, topUp)
    },
    async topUp(user: string, amount: number) {
      const after = await move(user, amount)
      await p`insert into ledger_entries (user_id, kind, amount, balance_after) values (${user}, 'top_up', ${amount}, ${after})`
    },
    async order(user: string, amount: number, status: 'NEW' | 'FINISHED' | 'CANCELLED', createdAt?: Date): Promise<string> {
      const id = crypto.randomUUID()
      const reason = status === 'CANCELLED' ? 'insufficient_funds' : null
      await o`insert into orders (id, user_id, amount, status, reason, created_at) values (${id}, ${user}, ${amount}, ${status}, ${reason}, ${createdAt ?? new Date()})`
      return id
    },
    /** The payment row alone. */
    async payment(orderId: string, user: string, amount: number, outcome: 'succeeded' | 'failed', createdAt?: Date) {
      const reason = outcome === 'failed' ? 'insufficient_funds' : null
      await p`insert into payments (order_id, user_id, amount, outcome, reason, created_at) values (${orderId}, ${user}, ${amount}, ${outcome}, ${reason}, ${createdAt ?? new Date()})`
    },
    /** A ledger debit and the balance it moves. */
    async debit(orderId: string, user: string, amount: number) {
      const after = await move(user, -amount)
      await p`insert into ledger_entries (user_id, kind, amount, order_id, balance_after) values (${user}, 'payment', ${amount}, ${orderId}, ${after})`
    },
    /** What charge_order does for a covered order: payment, debit. */
    async charge(orderId: string, user: string, amount: number, createdAt?: Date) {
      await this.payment(orderId, user, amount, 'succeeded', createdAt)
      await this.debit(orderId, user, amount)
    },
    /** A paid order, as the whole system leaves it. */
    async paid(user: string, amount: number) {
      const id = await this.order(user, amount, 'FINISHED')
      await this.charge(id, user, amount)
      return id
    },
    /** A refused order, as the whole system leaves it. */
    async refused(user: string, amount: number) {
      const id = await this.order(user, amount, 'CANCELLED')
      await this.payment(id, user, amount, 'failed')
      return id
    },
  }
}

/** What every consistent dataset holds: 3 accounts, 6 FINISHED, 3 CANCELLED, 2 NEW in flight. */
async function fillConsistent(db: Pair) {
  const s = shop(db)
  await s.account('ann', 1000)
  await s.account('bob', 500)
  await s.account('cy') // never topped up
  await s.topUp('ann', 250)
  for (const amount of [100, 200, 300]) await s.paid('ann', amount)
  await s.paid('bob', 500) // balance 0
  await s.paid('ann', 1)
  await s.paid('ann', 649) // balance 0
  await s.refused('ann', 5)
  await s.refused('cy', 10)
  await s.refused('nobody', 10) // no account: cancelled (account_not_found in life)
  await s.order('bob', 50, 'NEW') // not asked yet
  const decided = await s.order('bob', 70, 'NEW') // decided, the result not back yet
  await s.payment(decided, 'bob', 70, 'failed')
}

const consistentSummary = 'reconcile: orders 11 (NEW 2, FINISHED 6, CANCELLED 3), payments 10 (succeeded 6, failed 4), accounts 3, in flight 2, discrepancies 0'

async function runCli(urls: { orders: string; payments: string } | Record<string, string>, args: string[] = []) {
  const env: Record<string, string> = { ...(process.env as Record<string, string>), ORDERS_DATABASE_URL: '', PAYMENTS_DATABASE_URL: '', DATABASE_URL: '' }
  if ('orders' in urls) Object.assign(env, { ORDERS_DATABASE_URL: urls.orders, PAYMENTS_DATABASE_URL: urls.payments })
  else Object.assign(env, urls)
  const child = Bun.spawn(['bun', join(root, 'launcher', 'reconcile.ts'), ...args], { env, stdout: 'pipe', stderr: 'pipe' })
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
  return { code, lines: stdout.trim().split('\n').filter(Boolean), stderr }
}

const open = (db: Pair) => ({ orders: db.ordersSql as Sql, payments: db.paymentsSql as Sql })
const key = (d: Pick<Discrepancy, 'kind' | 'orderId' | 'userId'>) => `${d.kind} ${d.orderId ?? '-'} ${d.userId ?? '-'}`

describe('a consistent pair of databases', () => {
  let db: Pair
  beforeAll(async () => {
    db = await freshPair('rok')
    await fillConsistent(db)
  })
  afterAll(async () => {
    await db.ordersSql.end()
    await db.paymentsSql.end()
  })

  test('the CLI prints the summary line and exits 0', async () => {
    const run = await runCli(db.urls)
    expect(run.stderr).toBe('')
    expect(run.lines).toEqual([consistentSummary])
    expect(run.code).toBe(0)
  })

  test('the same verdict whatever the page size (the sorted merge across page boundaries)', async () => {
    for (const pageSize of [1, 2, 3, 10_000]) {
      const result = await reconcile(open(db), { stuckAfterMs: 300_000, pageSize })
      expect(result.discrepancies).toEqual([])
      expect(result.summary).toMatchObject({ orders: { NEW: 2, FINISHED: 6, CANCELLED: 3 }, payments: { succeeded: 6, failed: 4 }, accounts: 3, inFlight: 2 })
    }
  })

  test('a payment made after the orders were read counts as in flight, not as without order', async () => {
    const s = shop(db)
    const later = crypto.randomUUID()
    await s.topUp('cy', 40)
    await s.charge(later, 'cy', 40, new Date(Date.now() + 3_600_000))
    try {
      const result = await reconcile(open(db), { stuckAfterMs: 300_000 })
      expect(result.discrepancies).toEqual([])
      expect(result.summary.inFlight).toBe(3)
    } finally {
      await db.paymentsSql`delete from ledger_entries where order_id = ${later}`
      await db.paymentsSql`delete from payments where order_id = ${later}`
      await db.paymentsSql`delete from ledger_entries where user_id = 'cy' and kind = 'top_up'`
      await db.paymentsSql`update accounts set balance = 0 where user_id = 'cy'`
    }
    expect((await runCli(db.urls)).code).toBe(0)
  })
})

describe('each kind of discrepancy', () => {
  let db: Pair
  const expected: { kind: Discrepancy['kind']; orderId?: string; userId: string }[] = []
  beforeAll(async () => {
    db = await freshPair('rbad')
    await fillConsistent(db)
    const s = shop(db)
    const expect_ = (kind: Discrepancy['kind'], userId: string, orderId?: string) => expected.push({ kind, userId, orderId })

    // FINISHED, and payments never heard of it.
    await s.account('u-missing', 100)
    expect_('finished_without_payment', 'u-missing', await s.order('u-missing', 100, 'FINISHED'))
    // FINISHED, though its payment failed.
    await s.account('u-failed', 100)
    const failed = await s.order('u-failed', 500, 'FINISHED')
    await s.payment(failed, 'u-failed', 500, 'failed')
    expect_('finished_payment_failed', 'u-failed', failed)
    // Charged less than the order's amount (the debit and the balance agree with the payment).
    await s.account('u-cheap', 100)
    const cheap = await s.order('u-cheap', 100, 'FINISHED')
    await s.charge(cheap, 'u-cheap', 90)
    expect_('amount_mismatch', 'u-cheap', cheap)
    // The ledger cases below are impossible with the schema's backstops (a debit must match its
    // succeeded payment's order, user and amount; one debit per order): the reconciliation still
    // catches them in a database without them (restored from before, or an operator dropped them).
    await db.paymentsSql`alter table ledger_entries drop constraint ledger_debit_has_payment`
    await db.paymentsSql`drop index ledger_one_debit_per_order`
    // The payment is of the right amount, its ledger debit is not.
    await s.account('u-ledger', 100)
    const short = await s.order('u-ledger', 100, 'FINISHED')
    await s.payment(short, 'u-ledger', 100, 'succeeded')
    await s.debit(short, 'u-ledger', 60)
    expect_('amount_mismatch', 'u-ledger', short)
    expect_('balance_mismatch', 'u-ledger')
    // Someone else paid for the order.
    await s.account('u-owner', 100)
    await s.account('u-payer', 100)
    const other = await s.order('u-owner', 100, 'FINISHED')
    await s.charge(other, 'u-payer', 100)
    expect_('user_mismatch', 'u-owner', other)
    // CANCELLED, but the money went.
    await s.account('u-cancel', 100)
    const cancelled = await s.order('u-cancel', 100, 'CANCELLED')
    await s.charge(cancelled, 'u-cancel', 100)
    expect_('cancelled_with_debit', 'u-cancel', cancelled)
    // A payment (and its debit) of an order that does not exist.
    await s.account('u-ghost', 100)
    const ghost = crypto.randomUUID()
    await s.charge(ghost, 'u-ghost', 30, new Date(Date.now() - 60_000))
    expect_('payment_without_order', 'u-ghost', ghost)
    // A debit without any payment (nor order): the balance no longer matches the payments.
    await s.account('u-stray', 100)
    const stray = crypto.randomUUID()
    await s.debit(stray, 'u-stray', 25)
    expect_('ledger_without_payment', 'u-stray', stray)
    expect_('balance_mismatch', 'u-stray')
    // Debited twice for one payment.
    await s.account('u-twice', 200)
    const twice = await s.order('u-twice', 80, 'FINISHED')
    await s.charge(twice, 'u-twice', 80)
    await s.debit(twice, 'u-twice', 80)
    expect_('ledger_without_payment', 'u-twice', twice)
    expect_('balance_mismatch', 'u-twice')
    // A succeeded payment that never reached the ledger (the balance moved all the same).
    await s.account('u-unbooked', 100)
    const unbooked = await s.order('u-unbooked', 40, 'FINISHED')
    await s.payment(unbooked, 'u-unbooked', 40, 'succeeded')
    await db.paymentsSql`update accounts set balance = balance - 40 where user_id = 'u-unbooked'`
    expect_('payment_without_ledger', 'u-unbooked', unbooked)
    expect_('balance_mismatch', 'u-unbooked')
    // A balance changed behind the ledger's back.
    await s.account('u-drift', 100)
    await db.paymentsSql`update accounts set balance = balance + 1 where user_id = 'u-drift'`
    expect_('balance_mismatch', 'u-drift')
    // Below zero (the CHECK forbids it; an operator dropped it).
    await db.paymentsSql`alter table accounts drop constraint accounts_balance_range`
    await s.account('u-negative')
    await db.paymentsSql`update accounts set balance = -5 where user_id = 'u-negative'`
    expect_('negative_balance', 'u-negative')
    expect_('balance_mismatch', 'u-negative')
    // NEW for ten minutes.
    expect_('stuck_new', 'ann', await s.order('ann', 10, 'NEW', new Date(Date.now() - 10 * 60_000)))
  })
  afterAll(async () => {
    await db.ordersSql.end()
    await db.paymentsSql.end()
  })

  test('every one is reported with its kind and ids, and nothing else', async () => {
    const result = await reconcile(open(db), { stuckAfterMs: 5 * 60_000 })
    expect(result.discrepancies.map(key).sort()).toEqual(expected.map(key).sort())
    expect(result.summary.discrepancies).toBe(expected.length)
    // The same with pages of 2 rows.
    const paged = await reconcile(open(db), { stuckAfterMs: 5 * 60_000, pageSize: 2 })
    expect(paged.discrepancies.map(key).sort()).toEqual(expected.map(key).sort())
  })

  test('the CLI prints one line per discrepancy and the summary, and exits 1', async () => {
    const run = await runCli(db.urls)
    expect(run.code).toBe(1)
    const summary = run.lines.at(-1)!
    expect(summary).toStartWith('reconcile: orders 20 (NEW 3, FINISHED 13, CANCELLED 4), ')
    expect(summary).toContain(`discrepancies ${expected.length} (`)
    expect(summary).toContain('stuck_new 1')
    expect(summary).toContain('balance_mismatch 6')
    const lines = run.lines.slice(0, -1)
    expect(lines).toHaveLength(expected.length)
    for (const e of expected) {
      const prefix = formatDiscrepancy({ ...e, detail: '' })
      expect(lines.filter((l) => l.startsWith(`${prefix} `))).not.toHaveLength(0)
    }
    expect(lines.find((l) => l.startsWith('amount_mismatch') && l.includes('u-cheap'))).toContain('order amount 100, payment 90')
  })

  test('--stuck-after: the NEW order is stuck after 5 minutes, in flight within an hour', async () => {
    const within = await reconcile(open(db), { stuckAfterMs: 3_600_000 })
    expect(within.discrepancies.some((d) => d.kind === 'stuck_new')).toBe(false)
    const run = await runCli(db.urls, ['--stuck-after', '1h'])
    expect(run.lines.some((l) => l.startsWith('stuck_new'))).toBe(false)
    expect(run.lines.at(-1)).toContain('in flight 3')
  })

  test('the payments side alone (for moments with orders in flight): only what the payments database shows', async () => {
    const result = await reconcile({ payments: db.paymentsSql as Sql }, { stuckAfterMs: 0 })
    const paymentsOnly = new Set(['ledger_without_payment', 'payment_without_ledger', 'balance_mismatch', 'negative_balance'])
    const expectedHere = expected.filter((e) => paymentsOnly.has(e.kind) || (e.kind === 'amount_mismatch' && e.userId === 'u-ledger'))
    expect(result.discrepancies.map((d) => `${d.kind} ${d.userId}`).sort()).toEqual(expectedHere.map((e) => `${e.kind} ${e.userId}`).sort())
  })
})

describe('the command line', () => {
  test('a database that does not answer: exit 2 and a message naming it', async () => {
    const closed = `postgres://gozon:secret@127.0.0.1:${await freePort()}/gozon_orders`
    const run = await runCli({ orders: closed, payments: closed })
    expect(run.code).toBe(2)
    expect(run.stderr).toContain('could not read the databases')
    expect(run.stderr).not.toContain('secret')
    expect(run.lines).toEqual([])
  })

  test('DATABASE_URL: gozon_orders and gozon_payments on that server, as bun start derives them', async () => {
    const { postgres } = await infra()
    const server = postgres.url('postgres')
    const urls = databaseUrls({ DATABASE_URL: server })
    expect(urls).toEqual({ orders: postgres.url('gozon_orders'), payments: postgres.url('gozon_payments') })
    expect(databaseUrls({})).toEqual({
      orders: 'postgres://gozon:gozon@127.0.0.1:5433/gozon_orders',
      payments: 'postgres://gozon:gozon@127.0.0.1:5433/gozon_payments',
    })
    expect(databaseUrls({ DATABASE_URL: server, PAYMENTS_DATABASE_URL: 'postgres://x@h/p' }).payments).toBe('postgres://x@h/p')
    // The embedded PostgreSQL on the port bun start was given.
    expect(databaseUrls({ EMBEDDED_POSTGRES_PORT: '5533' }).orders).toBe('postgres://gozon:gozon@127.0.0.1:5533/gozon_orders')
    const db = await freshPair('', urls)
    await db.ordersSql.end()
    await db.paymentsSql.end()
    const run = await runCli({ DATABASE_URL: server })
    expect(run.lines).toEqual([
      'reconcile: orders 0 (NEW 0, FINISHED 0, CANCELLED 0), payments 0 (succeeded 0, failed 0), accounts 0, in flight 0, discrepancies 0',
    ])
    expect(run.code).toBe(0)
  })

  test('bad options: exit 2', async () => {
    expect(parseDuration('90s')).toBe(90_000)
    expect(parseDuration('5m')).toBe(300_000)
    expect(parseDuration('1500')).toBe(1500)
    expect(parseDuration('soon')).toBeUndefined()
    const run = await runCli({ DATABASE_URL: 'postgres://nowhere' }, ['--stuck-after', 'soon'])
    expect(run.code).toBe(2)
    expect(run.stderr).toContain('--stuck-after')
  })
})

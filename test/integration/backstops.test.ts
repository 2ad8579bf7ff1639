// The payments schema's own backstops: even code that tried could not debit an
// order twice, debit an order that was not paid, or debit another amount or
// user than the payment's. And charge_order answers a repeated ask for a
// decided order with a new result row only where it can help: once the last
// one was published, and only to an ask made after that.
// Real PostgreSQL, the committed migrations, no service running.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type postgres from 'postgres'
import { migrateDatabase } from '../../shared/db/migrate'
import { freshDatabaseUrl, sqlClient } from '../support/infra'

let sql: postgres.Sql

beforeAll(async () => {
  const url = await freshDatabaseUrl('backstops')
  await migrateDatabase(url, join(import.meta.dir, '..', '..', 'drizzle', 'payments'))
  sql = sqlClient(url)
})

afterAll(async () => {
  await sql.end({ timeout: 5 })
})

const uuid = () => crypto.randomUUID()

/** Runs `statement` and returns the constraint PostgreSQL named when it refused it. */
async function refusal(statement: Promise<unknown>): Promise<string | undefined> {
  try {
    await statement
    return undefined
  } catch (error) {
    return (error as { constraint_name?: string }).constraint_name ?? String(error)
  }
}

async function account(user: string, balance: number) {
  await sql`insert into accounts (user_id, balance) values (${user}, ${balance})`
}

async function succeededPayment(order: string, user: string, amount: number) {
  await sql`insert into payments (order_id, user_id, amount, outcome) values (${order}, ${user}, ${amount}, 'succeeded')`
}

const debit = (order: string, user: string, amount: number, balanceAfter = 0) =>
  sql`insert into ledger_entries (user_id, kind, amount, order_id, balance_after) values (${user}, 'payment', ${amount}, ${order}, ${balanceAfter})`

describe('the ledger refuses a debit that the payments table does not back', () => {
  test('a second debit for the same order', async () => {
    const order = uuid()
    await account('bs1', 1000)
    await succeededPayment(order, 'bs1', 100)
    await debit(order, 'bs1', 100, 900)
    expect(await refusal(debit(order, 'bs1', 100, 800))).toBe('ledger_one_debit_per_order')
  })

  test('a debit without any payment row', async () => {
    await account('bs2', 1000)
    expect(await refusal(debit(uuid(), 'bs2', 100))).toBe('ledger_debit_has_payment')
  })

  test('a debit for a failed payment', async () => {
    const order = uuid()
    await account('bs3', 10)
    await sql`insert into payments (order_id, user_id, amount, outcome, reason) values (${order}, 'bs3', 100, 'failed', 'insufficient_funds')`
    expect(await refusal(debit(order, 'bs3', 100))).toBe('ledger_debit_has_payment')
  })

  test('a debit of another amount, or on another user, than the payment', async () => {
    const order = uuid()
    await account('bs4', 1000)
    await account('bs4-other', 1000)
    await succeededPayment(order, 'bs4', 100)
    expect(await refusal(debit(order, 'bs4', 101))).toBe('ledger_debit_has_payment')
    expect(await refusal(debit(order, 'bs4-other', 100))).toBe('ledger_debit_has_payment')
    expect(await refusal(debit(order, 'bs4', 100, 900))).toBeUndefined()
  })

  test('top-ups need no payment row', async () => {
    await account('bs5', 0)
    expect(await refusal(sql`insert into ledger_entries (user_id, kind, amount, balance_after) values ('bs5', 'top_up', 500, 500)`)).toBeUndefined()
  })
})

describe('charge_order asked again for a decided order', () => {
  const charge = (order: string, user: string, amount: number, askedAt = Date.now()) =>
    sql`select order_id, decision from charge_orders(${sql.json([
      {
        orderId: order,
        userId: user,
        amount,
        askedAt,
        resultMessageId: `payment-result:${order}`,
        requestId: null,
        succeededSubject: 'gozon.payments.succeeded',
        succeededPayload: { orderId: order, userId: user, amount },
        failedSubject: 'gozon.payments.failed',
        insufficientFundsPayload: { orderId: order, userId: user, amount, reason: 'insufficient_funds' },
        accountNotFoundPayload: { orderId: order, userId: user, amount, reason: 'account_not_found' },
      },
    ])})`
  const resultRows = async (order: string) =>
    (await sql`select id, published_at from outbox where payload->>'orderId' = ${order} order by created_at, id`) as unknown as {
      id: string
      published_at: Date | null
    }[]

  test('writes no new result while the last one is unpublished, nor to an ask older than its publication; one to a later ask', async () => {
    const order = uuid()
    await account('bs6', 1000)
    const firstAsk = Date.now()
    expect((await charge(order, 'bs6', 300, firstAsk))[0]!.decision).toBe('succeeded')
    for (let i = 0; i < 5; i++) expect((await charge(order, 'bs6', 300))[0]!.decision).toBe('already_decided')
    expect((await resultRows(order)).map((r) => r.id)).toEqual([`payment-result:${order}`])

    await sql`update outbox set published_at = now() where id = ${`payment-result:${order}`}`
    // Asks made before the answer went out (a backlog): it is on its way, nothing new.
    for (let i = 0; i < 3; i++) await charge(order, 'bs6', 300, firstAsk)
    expect(await resultRows(order)).toHaveLength(1)
    // An ask made after it went out: the answer may have been lost; sent once more.
    await Bun.sleep(5)
    await charge(order, 'bs6', 300, Date.now())
    const rows = await resultRows(order)
    expect(rows).toHaveLength(2)
    expect(rows[1]!.id).toStartWith(`payment-result:${order}:resent:`)
    const [payment] = await sql`select result_message_id from payments where order_id = ${order}`
    expect(payment!.result_message_id).toBe(rows[1]!.id)

    const [money] = await sql`select balance from accounts where user_id = 'bs6'`
    expect(Number(money!.balance)).toBe(700)
    const [debits] = await sql`select count(*)::int as n from ledger_entries where order_id = ${order}`
    expect(debits!.n).toBe(1)
  })

  test('a refused order is answered the same way', async () => {
    const order = uuid()
    await account('bs7', 10)
    expect((await charge(order, 'bs7', 300))[0]!.decision).toBe('insufficient_funds')
    await charge(order, 'bs7', 300)
    expect(await resultRows(order)).toHaveLength(1)
  })
})

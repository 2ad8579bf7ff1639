// Reconciliation for the Operations page, without any service reading
// another's tables and without any order leaving a service: each side folds
// its decided orders into DIGEST_BUCKETS buckets by order id (count, total
// amount, and an XOR of a hash of order id, user and amount), orders over its
// FINISHED orders, payments over its succeeded payments. Equal buckets agree on
// exactly which orders were paid, by whom and how much (up to a hash
// collision); a differing bucket says that something differs, and
// `bun run reconcile` (shared/reconcile/checks.ts) says what. Payments also
// checks its own books: every balance is top-ups minus debits, every succeeded
// payment has its debit. Orders still NEW are in flight: while there are any,
// a difference may only be a result on its way.
import { type Static, Type } from '@sinclair/typebox'
import { sql } from 'drizzle-orm'
import type { Executor } from '../db/client'

export const DIGEST_BUCKETS = 64

const Count = Type.Integer({ minimum: 0 })
/** Sums and hashes are 64-bit: carried as decimal text, never as floats. */
const Int64Text = Type.String({ pattern: '^-?\\d{1,20}$' })

export const DigestView = Type.Object({
  buckets: Type.Array(Type.Object({ count: Count, amount: Int64Text, hash: Int64Text }), {
    minItems: DIGEST_BUCKETS,
    maxItems: DIGEST_BUCKETS,
    description: `Decided (paid) orders folded into ${DIGEST_BUCKETS} buckets by order id: count, total amount, XOR of a hash of order id, user and amount`,
  }),
  /** Orders only: orders still NEW (in flight). */
  inFlight: Type.Optional(Count),
  /** Payments only: its own books. */
  books: Type.Optional(Type.Object({ accountsOff: Count, paymentsWithoutDebit: Count })),
})

export type Digest = Static<typeof DigestView>

/** One bucket per row, in SQL: the same expressions on both sides, so both fold an order the same way. */
const bucketOf = (orderId: string) => sql.raw(`get_byte(decode(md5(${orderId}::text), 'hex'), 0) % ${DIGEST_BUCKETS}`)
const hashOf = (orderId: string, userId: string, amount: string) =>
  sql.raw(`('x' || substr(md5(${orderId}::text || ':' || ${userId} || ':' || ${amount}::text), 1, 16))::bit(64)::bigint`)

async function fold(db: Executor, table: 'orders' | 'payments', orderId: string, where: string): Promise<Digest['buckets']> {
  const rows = await db.execute<{ bucket: number; count: number; amount: string; hash: string }>(sql`
    select ${bucketOf(orderId)} as bucket, count(*)::int as count, sum(amount)::text as amount,
           bit_xor(${hashOf(orderId, 'user_id', 'amount')})::text as hash
    from ${sql.raw(table)} where ${sql.raw(where)} group by 1`)
  const buckets = Array.from({ length: DIGEST_BUCKETS }, () => ({ count: 0, amount: '0', hash: '0' }))
  for (const row of rows) buckets[row.bucket] = { count: row.count, amount: row.amount, hash: row.hash }
  return buckets
}

/** The orders service's side: its FINISHED orders, and how many are still NEW. */
export async function ordersDigest(db: Executor): Promise<Digest> {
  const [buckets, [pending]] = await Promise.all([
    fold(db, 'orders', 'id', "status = 'FINISHED'"),
    db.execute<{ n: number }>(sql`select count(*)::int as n from orders where status = 'NEW'`),
  ])
  return { buckets, inFlight: pending!.n }
}

/** The payments service's side: its succeeded payments, and a check of its own books. */
export async function paymentsDigest(db: Executor): Promise<Digest> {
  const [buckets, [books]] = await Promise.all([
    fold(db, 'payments', 'order_id', "outcome = 'succeeded'"),
    db.execute<{ accounts_off: number; payments_without_debit: number }>(sql`
      select
        (select count(*)::int from accounts a
           where a.balance <> coalesce((select sum(case when l.kind = 'top_up' then l.amount else -l.amount end)
                                        from ledger_entries l where l.user_id = a.user_id), 0)) as accounts_off,
        (select count(*)::int from payments p
           where p.outcome = 'succeeded'
             and not exists (select 1 from ledger_entries l where l.kind = 'payment' and l.order_id = p.order_id)) as payments_without_debit`),
  ])
  return { buckets, books: { accountsOff: books!.accounts_off, paymentsWithoutDebit: books!.payments_without_debit } }
}

export type DigestComparison = {
  /** Both sides hold the same paid orders, and payments' books balance. */
  agree: boolean
  paid: { orders: number; payments: number; ordersAmount: bigint; paymentsAmount: bigint }
  /** Bucket numbers where the two sides differ. */
  differing: number[]
  inFlight: number
  books: { accountsOff: number; paymentsWithoutDebit: number }
}

export function compareDigests(orders: Digest, payments: Digest): DigestComparison {
  const differing: number[] = []
  for (let i = 0; i < DIGEST_BUCKETS; i++) {
    const a = orders.buckets[i]!
    const b = payments.buckets[i]!
    if (a.count !== b.count || a.amount !== b.amount || a.hash !== b.hash) differing.push(i)
  }
  const total = (d: Digest) => d.buckets.reduce((sum, bucket) => sum + BigInt(bucket.amount), 0n)
  const count = (d: Digest) => d.buckets.reduce((sum, bucket) => sum + bucket.count, 0)
  const books = payments.books ?? { accountsOff: 0, paymentsWithoutDebit: 0 }
  return {
    agree: differing.length === 0 && books.accountsOff === 0 && books.paymentsWithoutDebit === 0,
    paid: { orders: count(orders), payments: count(payments), ordersAmount: total(orders), paymentsAmount: total(payments) },
    differing,
    inFlight: orders.inFlight ?? 0,
    books,
  }
}

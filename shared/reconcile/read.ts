// Reconciliation across the two services' databases: the reading. An
// operator's audit tool (`bun run reconcile`, launcher/reconcile.ts) and the
// fault tests' invariants use it; no service does (each reads only its own
// tables). Read-only: each database is read in one REPEATABLE READ READ ONLY
// transaction, streamed through server-side cursors `pageSize` rows at a time,
// so millions of rows never sit in memory; the two sides are walked together
// in order id order (a sorted merge) and compared by shared/reconcile/checks.ts.
//
// Snapshots: the orders are read first, the payments after. An order final in
// the orders snapshot was decided by payments before that, so its payment is
// in the later payments snapshot. A payment of an order created after the
// orders snapshot may be there too: it is made after the orders were read
// (both clocks are PostgreSQL's), so it counts as in flight, not as
// payment_without_order. A NEW order counts as in flight until it is older
// than the stuck threshold.
import type { Sql, TransactionSql } from 'postgres'
import {
  type AccountRow,
  type Context,
  checkAccount,
  checkOrder,
  type Discrepancy,
  emptySummary,
  mergeByKey,
  type OrderRow,
  type PaymentSide,
  type Summary,
} from './checks'

export type ReconcileOptions = {
  /** A NEW order older than this is stuck_new. */
  stuckAfterMs: number
  /** Rows fetched per round trip. */
  pageSize?: number
  /** Called for each discrepancy as it is found (the CLI prints them as they come). */
  onDiscrepancy?: (d: Discrepancy) => void
  /** At most this many discrepancies are kept in the result (all are counted and passed to onDiscrepancy). */
  keep?: number
}

export type ReconcileResult = { summary: Summary; discrepancies: Discrepancy[]; ordersRead: boolean }

const SNAPSHOT = 'isolation level repeatable read read only'

async function* rows<T>(pages: AsyncIterable<T[]>): AsyncGenerator<T> {
  for await (const page of pages) yield* page
}

type OrderDbRow = { id: string; user_id: string; amount: string; status: OrderRow['status']; created_at: Date }

async function* readOrders(tx: TransactionSql, pageSize: number): AsyncGenerator<OrderRow> {
  const query = tx<OrderDbRow[]>`
    select id::text as id, user_id, amount::text as amount, status, created_at from orders order by id`
  for await (const r of rows(query.cursor(pageSize))) {
    yield { id: r.id, userId: r.user_id, amount: BigInt(r.amount), status: r.status, createdAt: r.created_at }
  }
}

type PaymentSideDbRow = {
  order_id: string
  user_id: string | null
  amount: string | null
  outcome: 'succeeded' | 'failed' | null
  created_at: Date | null
  debits: number | null
  debited: string | null
  debit_users: string[] | null
}

/** Each order id the payments side knows, ascending: its payment row and its ledger debits. */
async function* readPaymentSides(tx: TransactionSql, pageSize: number): AsyncGenerator<PaymentSide> {
  // Ordered by the uuid itself, which sorts as its lowercase hex text does in JavaScript.
  const query = tx<PaymentSideDbRow[]>`
    select coalesce(p.order_id, d.order_id)::text as order_id,
           p.user_id, p.amount::text as amount, p.outcome, p.created_at,
           d.debits, d.debited, d.debit_users
    from payments p
    full join (
      select order_id, count(*)::int as debits, sum(amount)::text as debited, array_agg(distinct user_id::text) as debit_users
      from ledger_entries where kind = 'payment' group by order_id
    ) d on d.order_id = p.order_id
    order by coalesce(p.order_id, d.order_id)`
  for await (const r of rows(query.cursor(pageSize))) {
    yield {
      orderId: r.order_id,
      payment:
        r.outcome === null ? undefined : { orderId: r.order_id, userId: r.user_id!, amount: BigInt(r.amount!), outcome: r.outcome, createdAt: r.created_at! },
      debits: r.debits === null ? undefined : { orderId: r.order_id, count: r.debits, total: BigInt(r.debited!), userIds: r.debit_users ?? [] },
    }
  }
}

type AccountDbRow = { user_id: string; balance: string; top_ups: string; ledger_debits: string; succeeded: string }

async function* readAccounts(tx: TransactionSql, pageSize: number): AsyncGenerator<AccountRow> {
  const query = tx<AccountDbRow[]>`
    select a.user_id, a.balance::text as balance,
           coalesce(l.top_ups, 0)::text as top_ups, coalesce(l.debits, 0)::text as ledger_debits,
           coalesce(p.succeeded, 0)::text as succeeded
    from accounts a
    left join (
      select user_id, sum(amount) filter (where kind = 'top_up') as top_ups, sum(amount) filter (where kind = 'payment') as debits
      from ledger_entries group by user_id
    ) l on l.user_id = a.user_id
    left join (select user_id, sum(amount) as succeeded from payments where outcome = 'succeeded' group by user_id) p on p.user_id = a.user_id
    order by a.user_id`
  for await (const r of rows(query.cursor(pageSize))) {
    yield {
      userId: r.user_id,
      balance: BigInt(r.balance),
      topUps: BigInt(r.top_ups),
      ledgerDebits: BigInt(r.ledger_debits),
      succeededPayments: BigInt(r.succeeded),
    }
  }
}

async function* none<T>(): AsyncGenerator<T> {}

/**
 * Compares the orders database (when given) with the payments database.
 * Without `orders`, checks the payments side alone: balances, and each
 * payment against its ledger debits (what holds even with orders in flight).
 */
export async function reconcile(dbs: { orders?: Sql; payments: Sql }, options: ReconcileOptions): Promise<ReconcileResult> {
  const pageSize = options.pageSize ?? 10_000
  const keep = options.keep ?? 10_000
  const summary = emptySummary()
  const discrepancies: Discrepancy[] = []
  const found = (list: Discrepancy[]) => {
    for (const d of list) {
      summary.discrepancies += 1
      summary.byKind[d.kind] = (summary.byKind[d.kind] ?? 0) + 1
      if (discrepancies.length < keep) discrepancies.push(d)
      options.onDiscrepancy?.(d)
    }
  }

  const compare = async (orders: AsyncIterable<OrderRow>, ctx: Context, ordersRead: boolean) =>
    dbs.payments.begin(SNAPSHOT, async (ptx) => {
      const merged = mergeByKey(
        orders,
        readPaymentSides(ptx, pageSize),
        (o) => o.id,
        (p) => p.orderId,
      )
      for await (const [order, side] of merged) {
        if (order) summary.orders[order.status] += 1
        if (side?.payment) summary.payments[side.payment.outcome] += 1
        const checked = checkOrder(order, side, ctx, ordersRead)
        if (checked.inFlight) summary.inFlight += 1
        found(checked.discrepancies)
      }
      for await (const account of readAccounts(ptx, pageSize)) {
        summary.accounts += 1
        found(checkAccount(account))
      }
    })

  if (dbs.orders) {
    await dbs.orders.begin(SNAPSHOT, async (otx) => {
      // The first statement takes the orders snapshot; the payments one is taken after it.
      const [row] = await otx<{ now: Date }[]>`select now() as now`
      const ordersReadAt = row!.now
      const ctx = { ordersReadAt, stuckBefore: new Date(ordersReadAt.getTime() - options.stuckAfterMs) }
      await compare(readOrders(otx, pageSize), ctx, true)
    })
  } else {
    const now = new Date()
    await compare(none<OrderRow>(), { ordersReadAt: now, stuckBefore: now }, false)
  }
  return { summary, discrepancies, ordersRead: dbs.orders !== undefined }
}

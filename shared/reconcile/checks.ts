// Reconciliation across the two services' databases: the pure comparison.
// No I/O here: the rows come from shared/reconcile/read.ts (or a test), one
// order id at a time in ascending order, and one account at a time.
//
// What must hold (each broken rule is a discrepancy of a stable kind):
// - a FINISHED order has a succeeded payment of exactly its amount for its user;
// - a CANCELLED order has no debit (a failed payment, or none);
// - every payment and every ledger debit belongs to an order;
// - a succeeded payment has exactly one ledger debit of its amount, a failed
//   one none;
// - every balance is top-ups minus succeeded payments, and top-ups minus the
//   ledger's debits, and not negative.
// A NEW order is in flight (whatever payments decided), until it is older than
// the stuck threshold.

export const DISCREPANCY_KINDS = [
  'finished_without_payment',
  'finished_payment_failed',
  'amount_mismatch',
  'user_mismatch',
  'cancelled_with_debit',
  'payment_without_order',
  'ledger_without_payment',
  'payment_without_ledger',
  'balance_mismatch',
  'negative_balance',
  'stuck_new',
] as const
export type DiscrepancyKind = (typeof DISCREPANCY_KINDS)[number]

export type Discrepancy = { kind: DiscrepancyKind; orderId?: string; userId?: string; detail: string }

export type OrderRow = { id: string; userId: string; amount: bigint; status: 'NEW' | 'FINISHED' | 'CANCELLED'; createdAt: Date }
export type PaymentRow = { orderId: string; userId: string; amount: bigint; outcome: 'succeeded' | 'failed'; createdAt: Date }
/** The ledger's debits (kind payment) of one order, summed. */
export type DebitsRow = { orderId: string; count: number; total: bigint; userIds: string[] }
/** The payments side of one order id: its payment row and its ledger debits, either may be missing. */
export type PaymentSide = { orderId: string; payment?: PaymentRow; debits?: DebitsRow }
export type AccountRow = { userId: string; balance: bigint; topUps: bigint; ledgerDebits: bigint; succeededPayments: bigint }

export type Context = {
  /** When the orders were read (their snapshot): a payment made later may be of an order created later. */
  ordersReadAt: Date
  /** A NEW order created before this is reported as stuck_new. */
  stuckBefore: Date
}

/**
 * Checks one order id: the order (undefined when the orders side was not read,
 * or has no such order) against what the payments side holds for it.
 * `ordersRead` false checks the payments side alone (its payment against its
 * ledger debits), for moments when orders are in flight.
 */
export function checkOrder(
  order: OrderRow | undefined,
  side: PaymentSide | undefined,
  ctx: Context,
  ordersRead = true,
): { discrepancies: Discrepancy[]; inFlight: boolean } {
  const found: Discrepancy[] = []
  const payment = side?.payment
  const debits = side?.debits
  const orderId = order?.id ?? side?.orderId
  const userId = order?.userId ?? payment?.userId ?? debits?.userIds[0]
  const add = (kind: DiscrepancyKind, detail: string) => found.push({ kind, orderId, userId, detail })
  let inFlight = false

  if (ordersRead && order) {
    if (order.status === 'NEW') {
      if (order.createdAt < ctx.stuckBefore)
        add('stuck_new', `NEW since ${order.createdAt.toISOString()}${payment ? `; payment ${payment.outcome}` : '; no payment decided'}`)
      else inFlight = true
    } else if (order.status === 'FINISHED') {
      if (!payment) add('finished_without_payment', 'FINISHED, no payment recorded')
      else if (payment.outcome !== 'succeeded') add('finished_payment_failed', 'FINISHED, but its payment failed')
    } else if (order.status === 'CANCELLED') {
      const debited = payment?.outcome === 'succeeded' || (debits?.count ?? 0) > 0
      if (debited)
        add(
          'cancelled_with_debit',
          `CANCELLED, but ${payment?.outcome === 'succeeded' ? 'its payment succeeded' : 'debited'}${debits ? ` (${debits.count} ledger debit(s), ${debits.total})` : ''}`,
        )
    }
    if (payment && payment.amount !== order.amount) add('amount_mismatch', `order amount ${order.amount}, payment ${payment.amount}`)
    if (payment && payment.userId !== order.userId) add('user_mismatch', `order of user ${order.userId}, payment of user ${payment.userId}`)
  }
  if (ordersRead && !order && side) {
    // An order created after the orders were read may already be paid: in flight, not missing.
    const madeAt = payment?.createdAt
    if (madeAt && madeAt >= ctx.ordersReadAt) inFlight = true
    else if (payment) add('payment_without_order', `${payment.outcome} payment of ${payment.amount}, no such order`)
  }

  // The payments side on its own: a succeeded payment has exactly one debit of its amount, a failed one none.
  if (payment?.outcome === 'succeeded') {
    if (!debits || debits.count === 0) add('payment_without_ledger', `payment succeeded (${payment.amount}), no ledger debit`)
    else {
      if (debits.count > 1) add('ledger_without_payment', `${debits.count} ledger debits (${debits.total}) for one payment of ${payment.amount}`)
      else if (debits.total !== payment.amount) add('amount_mismatch', `ledger debit ${debits.total}, payment ${payment.amount}`)
      const others = debits.userIds.filter((u) => u !== payment.userId)
      if (others.length > 0) add('user_mismatch', `payment of user ${payment.userId}, ledger debit of user ${others.join(', ')}`)
    }
  } else if (debits && debits.count > 0) {
    add('ledger_without_payment', `${debits.count} ledger debit(s) (${debits.total}) ${payment ? 'for a failed payment' : 'without a payment'}`)
  }
  return { discrepancies: found, inFlight }
}

/** Checks one account: its balance against its top-ups, its ledger debits and its succeeded payments. */
export function checkAccount(account: AccountRow): Discrepancy[] {
  const found: Discrepancy[] = []
  const add = (kind: DiscrepancyKind, detail: string) => found.push({ kind, userId: account.userId, detail })
  if (account.balance < 0n) add('negative_balance', `balance ${account.balance}`)
  const byPayments = account.topUps - account.succeededPayments
  const byLedger = account.topUps - account.ledgerDebits
  const wrong = [
    account.balance !== byPayments ? `top-ups ${account.topUps} − succeeded payments ${account.succeededPayments} = ${byPayments}` : '',
    account.balance !== byLedger ? `top-ups ${account.topUps} − ledger debits ${account.ledgerDebits} = ${byLedger}` : '',
  ].filter(Boolean)
  if (wrong.length > 0) add('balance_mismatch', `balance ${account.balance}, but ${wrong.join('; ')}`)
  return found
}

/**
 * Walks two streams sorted by the same key (strictly ascending) side by side,
 * yielding each key once with what each stream has for it. Throws if a stream
 * is out of order, since the comparison would then be wrong.
 */
export async function* mergeByKey<A, B>(
  left: AsyncIterable<A>,
  right: AsyncIterable<B>,
  keyOfLeft: (a: A) => string,
  keyOfRight: (b: B) => string,
): AsyncGenerator<[A | undefined, B | undefined]> {
  const l = sortedCursor(left, keyOfLeft, 'left')
  const r = sortedCursor(right, keyOfRight, 'right')
  let a = await l.next()
  let b = await r.next()
  while (a || b) {
    if (a && (!b || a.key < b.key)) {
      yield [a.value, undefined]
      a = await l.next()
    } else if (b && (!a || b.key < a.key)) {
      yield [undefined, b.value]
      b = await r.next()
    } else {
      yield [a!.value, b!.value]
      a = await l.next()
      b = await r.next()
    }
  }
}

function sortedCursor<T>(source: AsyncIterable<T>, keyOf: (t: T) => string, name: string) {
  const iterator = source[Symbol.asyncIterator]()
  let last: string | undefined
  return {
    async next(): Promise<{ key: string; value: T } | undefined> {
      const step = await iterator.next()
      if (step.done) return undefined
      const key = keyOf(step.value)
      if (last !== undefined && !(last < key)) throw new Error(`reconcile: the ${name} stream is not in ascending key order (${last} then ${key})`)
      last = key
      return { key, value: step.value }
    },
  }
}

export type Summary = {
  orders: { NEW: number; FINISHED: number; CANCELLED: number }
  payments: { succeeded: number; failed: number }
  accounts: number
  inFlight: number
  discrepancies: number
  byKind: Partial<Record<DiscrepancyKind, number>>
}

export function emptySummary(): Summary {
  return { orders: { NEW: 0, FINISHED: 0, CANCELLED: 0 }, payments: { succeeded: 0, failed: 0 }, accounts: 0, inFlight: 0, discrepancies: 0, byKind: {} }
}

/** The one summary line. */
export function formatSummary(s: Summary, ordersRead = true): string {
  const orders = s.orders.NEW + s.orders.FINISHED + s.orders.CANCELLED
  const kinds = Object.entries(s.byKind)
    .map(([kind, n]) => `${kind} ${n}`)
    .join(', ')
  return [
    'reconcile:',
    ordersRead ? `orders ${orders} (NEW ${s.orders.NEW}, FINISHED ${s.orders.FINISHED}, CANCELLED ${s.orders.CANCELLED}),` : 'orders not read,',
    `payments ${s.payments.succeeded + s.payments.failed} (succeeded ${s.payments.succeeded}, failed ${s.payments.failed}),`,
    `accounts ${s.accounts},`,
    `in flight ${s.inFlight},`,
    `discrepancies ${s.discrepancies}${kinds ? ` (${kinds})` : ''}`,
  ].join(' ')
}

/** One line per discrepancy: its kind, then its ids, then what is wrong. */
export function formatDiscrepancy(d: Discrepancy): string {
  return [d.kind, d.orderId ? `order=${d.orderId}` : '', d.userId !== undefined ? `user=${d.userId}` : '', d.detail].filter(Boolean).join(' ')
}

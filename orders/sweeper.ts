// The stuck-order sweeper: the last line of defence when a message is lost
// (a broker that crashed before syncing to disk, a result dropped after
// max_deliver). It asks payments again for orders still NEW, with back-off,
// a cap, and one owner per order at a time:
//
//   order created                 -> next_ask_at = now + stuckAfter (orders/service.ts)
//   still NEW at next_ask_at      -> asked again under a new message id
//                                    (payment-requested:<order>:ask:<n>); the next
//                                    ask waits min(maxDelay, stuckAfter * 2^(n-1)),
//                                    jittered to 50-100 % so a crowd of orders
//                                    stuck together does not come back together
//   asked maxAsks times, no answer -> given up: next_ask_at = null,
//                                    payment_gave_up_at set, one error line, the
//                                    gozon_orders_payment_given_up gauge and the
//                                    Operations page; an answer still finalises it
//   several orders instances       -> due orders are claimed with FOR UPDATE SKIP
//                                    LOCKED: one instance asks for an order at a time
//
// Payments either decides the order now or, if it had decided it, sends the
// recorded result again (once, while that answer is unpublished: charge_order);
// a final status stays final either way.
import { and, asc, eq, isNotNull, lte, sql } from 'drizzle-orm'
import { Counter, Gauge, type Registry } from 'prom-client'
import { backoffSeconds } from '../shared/backoff'
import { type Database, isAnyOf } from '../shared/db/client'
import { outbox } from '../shared/db/messaging-tables'
import type { Logger } from '../shared/logger'
import { messageIds, SUBJECTS } from '../shared/messaging/contracts'
import type { OutgoingMessage } from '../shared/messaging/outbox'
import { type AskSettings, DEFAULT_ASKS } from '../shared/service-config'
import { orders, type schema } from './schema'

export type SweeperSettings = AskSettings & { intervalMs: number; batchSize: number }

export const DEFAULT_SWEEPER: SweeperSettings = { ...DEFAULT_ASKS, intervalMs: 2_000, batchSize: 200 }

export type SweepResult = { asked: number; gaveUp: number }

export class StuckOrderSweeper {
  private timer: Timer | undefined
  private running: Promise<SweepResult> | undefined
  /** Payment requests sent again so far (for tests and logs). */
  resent = 0
  private readonly asks: Counter | undefined

  constructor(
    private readonly deps: {
      db: Database<typeof schema>
      log: Logger
      outboxWritten: (messages: OutgoingMessage<typeof SUBJECTS.paymentRequested>[]) => void
      metrics?: Registry
    },
    private readonly settings: SweeperSettings = DEFAULT_SWEEPER,
  ) {
    if (!deps.metrics) return
    this.asks = new Counter({
      name: 'gozon_orders_payment_asked_again_total',
      help: 'Payment requests sent again by the stuck-order sweeper',
      registers: [deps.metrics],
    })
    const db = deps.db
    new Gauge({
      name: 'gozon_orders_payment_given_up',
      help: 'Orders still NEW whose payment the sweeper stopped asking for (see the Operations page)',
      registers: [deps.metrics],
      async collect() {
        this.set(await countGivenUp(db))
      },
    })
  }

  start(): void {
    this.timer ??= setInterval(() => {
      this.running ??= this.sweep()
        .catch((error: unknown) => {
          this.deps.log.warn({ err: error }, 'stuck-order sweep failed')
          return { asked: 0, gaveUp: 0 }
        })
        .finally(() => {
          this.running = undefined
        })
    }, this.settings.intervalMs)
  }

  async stop(): Promise<void> {
    clearInterval(this.timer)
    this.timer = undefined
    await this.running
  }

  /** One sweep over the orders whose next ask is due. */
  async sweep(): Promise<SweepResult> {
    const { stuckAfterMs, maxDelayMs, maxAsks } = this.settings
    const askedAt = Date.now()
    const { messages, gaveUp } = await this.deps.db.transaction(async (tx) => {
      const due = await tx
        .select({ id: orders.id, userId: orders.userId, amount: orders.amount, asks: orders.paymentAsks })
        .from(orders)
        .where(and(eq(orders.status, 'NEW'), lte(orders.nextAskAt, sql`now()`)))
        .orderBy(asc(orders.nextAskAt))
        .limit(this.settings.batchSize)
        .for('update', { skipLocked: true })
      const again = due.filter((o) => o.asks < maxAsks)
      const done = due.filter((o) => o.asks >= maxAsks)
      if (done.length > 0) {
        await tx
          .update(orders)
          .set({ nextAskAt: null, paymentGaveUpAt: sql`now()` })
          .where(
            isAnyOf(
              orders.id,
              done.map((o) => o.id),
              'uuid',
            ),
          )
      }
      if (again.length === 0) return { messages: [], gaveUp: done }
      // Per order, shared/backoff.ts's rule: min(maxDelay, base * 2^(ask-1)) after this ask, times a random 50-100 %.
      await tx
        .update(orders)
        .set({
          paymentAsks: sql`${orders.paymentAsks} + 1`,
          paymentRequestedAt: sql`now()`,
          nextAskAt: sql`now() + make_interval(secs => ${backoffSeconds(sql`${orders.paymentAsks} + 1`, { baseMs: stuckAfterMs, maxMs: maxDelayMs })})`,
        })
        .where(
          isAnyOf(
            orders.id,
            again.map((o) => o.id),
            'uuid',
          ),
        )
      const messages: OutgoingMessage<typeof SUBJECTS.paymentRequested>[] = again.map((o) => ({
        id: messageIds.paymentRequestAgain(o.id, o.asks + 1),
        subject: SUBJECTS.paymentRequested,
        payload: { orderId: o.id, userId: o.userId, amount: o.amount, askedAt },
      }))
      await tx.insert(outbox).values(messages.map((m) => ({ id: m.id, subject: m.subject, payload: m.payload })))
      return { messages, gaveUp: done }
    })
    for (const o of gaveUp) this.deps.log.warn({ orderId: o.id, asks: o.asks }, 'payment asked for the maximum number of times without an answer: no more asks')
    if (gaveUp.length > 0) {
      // One line for a person to act on, however many orders gave up in this round.
      this.deps.log.error(
        { orders: gaveUp.length, orderIds: gaveUp.slice(0, 10).map((o) => o.id) },
        'orders asked for the maximum number of times without an answer; they are reported on the Operations page',
      )
    }
    if (messages.length > 0) {
      this.resent += messages.length
      this.asks?.inc(messages.length)
      this.deps.outboxWritten(messages)
      for (const m of messages) this.deps.log.warn({ orderId: m.payload.orderId, messageId: m.id }, 'order stuck in NEW: payment requested again')
    }
    return { asked: messages.length, gaveUp: gaveUp.length }
  }
}

/** Orders still NEW that the sweeper gave up on. */
export async function countGivenUp(db: Database<typeof schema>): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(orders)
    .where(and(eq(orders.status, 'NEW'), isNotNull(orders.paymentGaveUpAt)))
  return row?.n ?? 0
}

/** The latest of them, for the Operations page. */
export async function latestGivenUp(db: Database<typeof schema>, limit = 20) {
  const rows = await db
    .select({ orderId: orders.id, asks: orders.paymentAsks, createdAt: orders.createdAt, gaveUpAt: orders.paymentGaveUpAt })
    .from(orders)
    .where(and(eq(orders.status, 'NEW'), isNotNull(orders.paymentGaveUpAt)))
    .orderBy(sql`${orders.paymentGaveUpAt} desc`)
    .limit(limit)
  return rows.map((r) => ({ orderId: r.orderId, asks: r.asks, createdAt: r.createdAt.toISOString(), gaveUpAt: (r.gaveUpAt ?? r.createdAt).toISOString() }))
}

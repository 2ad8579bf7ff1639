// The stuck-order sweeper: the last line of defence when a message is lost
// (a broker that crashed before syncing to disk, a result dropped after
// max_deliver). Every few seconds it finds orders still NEW whose payment was
// last asked for a while ago and asks again with a new PaymentRequested (a new
// message id). Payments either decides the order now or, if it had decided
// it, sends the recorded result again; a final status stays final either way.
import { and, asc, eq, inArray, lt, sql } from 'drizzle-orm'
import type { Database } from '../shared/db/client'
import { outbox } from '../shared/db/messaging-tables'
import type { Logger } from '../shared/logger'
import { messageIds, SUBJECTS } from '../shared/messaging/contracts'
import type { OutgoingMessage } from '../shared/messaging/outbox'
import { orders, type schema } from './schema'

export type SweeperSettings = { stuckAfterMs: number; intervalMs: number; batchSize: number }
export const DEFAULT_SWEEPER: SweeperSettings = { stuckAfterMs: 10_000, intervalMs: 2_000, batchSize: 200 }

export class StuckOrderSweeper {
  private timer: Timer | undefined
  private running: Promise<number> | undefined
  /** Payment requests sent again so far (for tests and logs). */
  resent = 0

  constructor(
    private readonly deps: {
      db: Database<typeof schema>
      log: Logger
      outboxWritten: (messages: OutgoingMessage<typeof SUBJECTS.paymentRequested>[]) => void
    },
    private readonly settings: SweeperSettings = DEFAULT_SWEEPER,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => {
      this.running ??= this.sweep()
        .catch((error: unknown) => {
          this.deps.log.warn({ err: error }, 'stuck-order sweep failed')
          return 0
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

  /** One sweep: asks again for every order stuck in NEW. Returns how many. */
  async sweep(): Promise<number> {
    const now = Date.now()
    const messages = await this.deps.db.transaction(async (tx) => {
      const stuck = await tx
        .select({ id: orders.id, userId: orders.userId, amount: orders.amount })
        .from(orders)
        .where(
          and(
            eq(orders.status, 'NEW'),
            lt(orders.paymentRequestedAt, sql`now() - make_interval(secs => ${this.settings.stuckAfterMs / 1000})`),
          ),
        )
        .orderBy(asc(orders.paymentRequestedAt))
        .limit(this.settings.batchSize)
        .for('update', { skipLocked: true })
      if (stuck.length === 0) return []
      const again: OutgoingMessage<typeof SUBJECTS.paymentRequested>[] = stuck.map((o) => ({
        id: messageIds.paymentRequestRetry(o.id, now),
        subject: SUBJECTS.paymentRequested,
        payload: { orderId: o.id, userId: o.userId, amount: o.amount },
      }))
      await tx.update(orders).set({ paymentRequestedAt: sql`now()` }).where(inArray(orders.id, stuck.map((o) => o.id)))
      await tx.insert(outbox).values(again.map((m) => ({ id: m.id, subject: m.subject, payload: m.payload })))
      return again
    })
    if (messages.length > 0) {
      this.resent += messages.length
      this.deps.outboxWritten(messages)
      for (const m of messages) this.deps.log.warn({ orderId: m.payload.orderId, messageId: m.id }, 'order stuck in NEW: payment requested again')
    }
    return messages.length
  }
}

// The inbox consumer: pulls from a durable JetStream consumer and handles each
// message in exactly one database transaction that also records its message
// id in the inbox. The message is acked only after that transaction commits.
//
//   redelivered or re-published message -> inbox insert finds the id -> ack, skip
//   crash before commit                 -> nothing written; redelivered after ack_wait
//   crash after commit, before ack      -> redelivered; the inbox recognises it
//   unparseable or invalid message      -> dead_letters row, term(): never retried
//   transient failure (database down)   -> nak(delay) with exponential back-off;
//                                          after max_deliver, dead-lettered
import { type Consumer, type ConsumerMessages, type JsMsg, jetstream } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { lt } from 'drizzle-orm'
import type { Executor } from '../db/client'
import { deadLetters, inbox } from '../db/messaging-tables'
import { failpoint, SimulatedCrash } from '../failpoints'
import type { Logger } from '../logger'
import { decodeMessage, type Envelope, PoisonMessageError, REQUEST_ID_HEADER, type Subject } from './contracts'

export type HandlerContext = {
  messageId: string
  requestId: string | undefined
  deliveryCount: number
  log: Logger
}

/** Runs inside the message's transaction; may return work to do after commit (an announcement). */
export type MessageHandler<S extends Subject> = (
  tx: Executor,
  message: Envelope<S>,
  ctx: HandlerContext,
) => Promise<(() => void) | undefined>

export type ConsumerSettings = {
  /** Messages handled at once by one instance. */
  concurrency: number
  /** Messages buffered from the server per pull. */
  pullBatch: number
  maxDeliver: number
  /** Inbox rows older than this are deleted (far beyond any redelivery or re-publish). */
  inboxRetentionMs: number
}

export const DEFAULT_CONSUMER: ConsumerSettings = {
  concurrency: 32,
  pullBatch: 128,
  maxDeliver: 20,
  inboxRetentionMs: 7 * 24 * 3600_000,
}

const MAX_NAK_DELAY_MS = 60_000

export function nakDelayMs(deliveryCount: number): number {
  return Math.min(MAX_NAK_DELAY_MS, 250 * 2 ** Math.max(0, deliveryCount - 1))
}

export type ConsumerStats = { handled: number; duplicates: number; deadLettered: number; retried: number }

export class InboxConsumer<S extends Subject> {
  private readonly settings: ConsumerSettings
  private running = false
  private loop: Promise<void> | undefined
  private messages: ConsumerMessages | undefined
  private readonly inFlight = new Set<Promise<void>>()
  private slotFreed: (() => void) | undefined
  private cleanupTimer: Timer | undefined
  readonly stats: ConsumerStats = { handled: 0, duplicates: 0, deadLettered: 0, retried: 0 }

  constructor(
    private readonly deps: {
      db: Executor
      nc: NatsConnection
      log: Logger
      stream: string
      durable: string
      subjects: readonly S[]
      handle: MessageHandler<S>
    },
    settings: Partial<ConsumerSettings> = {},
  ) {
    this.settings = { ...DEFAULT_CONSUMER, ...settings }
  }

  start(): void {
    if (this.running) return
    this.running = true
    this.cleanupTimer = setInterval(() => void this.cleanupInbox(), 10 * 60_000)
    this.loop = this.run()
  }

  /** Stops pulling, lets the messages in hand finish, and returns. */
  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    clearInterval(this.cleanupTimer)
    await this.messages?.close().catch(() => {})
    await this.loop
    await Promise.allSettled([...this.inFlight])
  }

  private async run(): Promise<void> {
    const js = jetstream(this.deps.nc)
    while (this.running) {
      try {
        const consumer: Consumer = await js.consumers.get(this.deps.stream, this.deps.durable)
        this.messages = await consumer.consume({ max_messages: this.settings.pullBatch })
        for await (const msg of this.messages) {
          while (this.inFlight.size >= this.settings.concurrency) {
            await new Promise<void>((resolve) => {
              this.slotFreed = resolve
            })
          }
          const work = this.process(msg).finally(() => {
            this.inFlight.delete(work)
            this.slotFreed?.()
          })
          this.inFlight.add(work)
          if (!this.running) break
        }
      } catch (error) {
        if (this.running) this.deps.log.warn({ err: error, durable: this.deps.durable }, 'consume loop failed; restarting')
      }
      // The iterator ends on close() or when the client gives up (missed
      // heartbeats, consumer deleted): start again unless we are stopping.
      if (this.running) await Bun.sleep(500)
    }
  }

  private async process(msg: JsMsg): Promise<void> {
    const messageId = msg.headers?.get('Nats-Msg-Id') || undefined
    const requestId = msg.headers?.get(REQUEST_ID_HEADER) || undefined
    const deliveryCount = msg.info.deliveryCount
    const log = this.deps.log.child({ messageId, subject: msg.subject, streamSeq: msg.seq, requestId, deliveryCount })

    let message: Envelope<S>
    try {
      if (!messageId) throw new PoisonMessageError('message has no Nats-Msg-Id header')
      message = decodeMessage(this.deps.subjects, msg.subject, msg.data)
    } catch (error) {
      return this.reject(msg, messageId, error, log)
    }
    const orderLog = 'orderId' in message.payload ? log.child({ orderId: message.payload.orderId }) : log

    try {
      const outcome = await this.deps.db.transaction(async (tx) => {
        const fresh = await tx
          .insert(inbox)
          .values({ messageId, subject: msg.subject })
          .onConflictDoNothing()
          .returning({ messageId: inbox.messageId })
        if (fresh.length === 0) return { duplicate: true as const }
        const afterCommit = await this.deps.handle(tx, message, { messageId, requestId, deliveryCount, log: orderLog })
        failpoint(`${this.deps.durable}.before-commit`)
        return { duplicate: false as const, afterCommit }
      })
      failpoint(`${this.deps.durable}.after-commit`)
      msg.ack()
      if (outcome.duplicate) {
        this.stats.duplicates += 1
        orderLog.info('duplicate message skipped (already in inbox)')
        return
      }
      this.stats.handled += 1
      orderLog.debug('message handled')
      outcome.afterCommit?.()
    } catch (error) {
      if (error instanceof SimulatedCrash) {
        // Behave like a dead process: no ack, no nak; JetStream redelivers after ack_wait.
        orderLog.error({ failpoint: error.failpoint }, 'simulated crash: message left unacknowledged')
        return
      }
      if (error instanceof PoisonMessageError) return this.reject(msg, messageId, error, orderLog)
      if (deliveryCount >= this.settings.maxDeliver) {
        return this.reject(msg, messageId, new PoisonMessageError(`gave up after ${deliveryCount} deliveries: ${String(error)}`), orderLog)
      }
      const delay = nakDelayMs(deliveryCount)
      this.stats.retried += 1
      orderLog.warn({ err: error, retryInMs: delay }, 'message handling failed; will be redelivered')
      msg.nak(delay)
    }
  }

  /** Records a message that can never be handled and terminates it. */
  private async reject(msg: JsMsg, messageId: string | undefined, error: unknown, log: Logger): Promise<void> {
    const reason = error instanceof PoisonMessageError ? error.message : `unexpected: ${String(error)}`
    try {
      await this.deps.db.insert(deadLetters).values({
        messageId: messageId ?? null,
        subject: msg.subject,
        streamSequence: msg.seq,
        deliveries: msg.info.deliveryCount,
        // PostgreSQL text cannot hold NUL; keep the rest as it came.
        payload: new TextDecoder().decode(msg.data).slice(0, 64 * 1024).replaceAll('\u0000', '\\u0000'),
        reason,
      })
    } catch (dbError) {
      log.warn({ err: dbError }, 'could not record dead letter; will retry')
      msg.nak(nakDelayMs(msg.info.deliveryCount))
      return
    }
    msg.term()
    this.stats.deadLettered += 1
    log.error({ reason }, 'message dead-lettered')
  }

  async cleanupInbox(): Promise<void> {
    try {
      await this.deps.db.delete(inbox).where(lt(inbox.receivedAt, new Date(Date.now() - this.settings.inboxRetentionMs)))
    } catch (error) {
      this.deps.log.warn({ err: error }, 'inbox cleanup failed')
    }
  }
}

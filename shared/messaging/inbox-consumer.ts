// The inbox consumer: pulls from a durable JetStream consumer and handles
// messages in database transactions that also record each message id in the
// inbox. A message is acked only after the transaction that handled it
// committed.
//
//   redelivered or re-published message -> inbox insert finds the id -> ack, skip
//   crash before commit                 -> nothing written; redelivered after ack_wait
//   crash after commit, before ack      -> redelivered; the inbox recognises it
//   unparseable or invalid message      -> dead_letters row, term(): never retried
//   transient failure (database down)   -> nak(delay) with exponential back-off;
//                                          after max_deliver, dead-lettered
//   slow transactions, long queue       -> messages waiting in the buffer are kept
//                                          alive with working() well within
//                                          ack_wait; one stuck in a stalled
//                                          transaction is redelivered (inbox)
//   consumed stream not declared yet    -> one clear line (StreamMissingError),
//                                          then wait for its owner; not ready
//
// Throughput: messages that arrive while a transaction is running are handled
// together in the next one (up to `batchSize`): one inbox insert for all of
// them, their handlers' statements pipelined, one commit, then every ack. If
// such a transaction fails, its messages are handled again one by one, so one
// bad message only ever fails itself.
import { type Consumer, type ConsumerMessages, type JsMsg, jetstream } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { lt, sql } from 'drizzle-orm'
import { backoffMs } from '../backoff'
import { arrayParam, type Executor, runPrepared } from '../db/client'
import { deadLetters, inbox } from '../db/messaging-tables'
import { failpoint, SimulatedCrash } from '../failpoints'
import type { Logger } from '../logger'
import { type Component, contextFrom, endSpan, type Span, SpanKind, startSpan, tracingOn } from '../tracing'
import { decodeMessage, type Envelope, PoisonMessageError, REQUEST_ID_HEADER, type Subject } from './contracts'
import { StreamMissingError } from './nats'

export type HandlerContext = {
  messageId: string
  requestId: string | undefined
  deliveryCount: number
  log: Logger
  /** This delivery's CONSUMER span, when tracing is on: the parent of what the handler writes and announces. */
  span?: Span
}

export type BatchItem<S extends Subject> = { message: Envelope<S>; ctx: HandlerContext }

/**
 * Handles the fresh messages of one transaction (a batch of one or more, in
 * lock-key order) with as few statements as it can; may return work to do
 * after commit (announcements). If it throws, nothing of the batch is kept.
 */
export type MessageHandler<S extends Subject> = (tx: Executor, items: BatchItem<S>[]) => Promise<(() => void) | undefined>

export type ConsumerSettings = {
  /** Transactions running at once in one instance. */
  concurrency: number
  /** Most messages handled in one transaction. */
  batchSize: number
  /** Messages buffered from the server per pull. */
  pullBatch: number
  maxDeliver: number
  /** Inbox rows older than this are deleted (far beyond any redelivery or re-publish). */
  inboxRetentionMs: number
  /** The durable consumer's ack_wait: messages in hand are kept alive well within it. */
  ackWaitMs: number
}

export const DEFAULT_CONSUMER: ConsumerSettings = {
  concurrency: 4,
  batchSize: 64,
  pullBatch: 256,
  maxDeliver: 20,
  inboxRetentionMs: 7 * 24 * 3600_000,
  ackWaitMs: 30_000,
}

const MAX_NAK_DELAY_MS = 60_000
/** A consumed stream missing this long at start is reported (before that its owner may just be starting). */
const STREAM_MISSING_REPORT_MS = 5000

/** How long a failed delivery waits before the next (shared/backoff.ts). */
export function nakDelayMs(deliveryCount: number, random?: () => number): number {
  return backoffMs(deliveryCount, { baseMs: 250, maxMs: MAX_NAK_DELAY_MS }, random)
}

export type ConsumerStats = {
  handled: number
  duplicates: number
  deadLettered: number
  retried: number
  redelivered: number
  transactions: number
}

type Decoded<S extends Subject> = {
  msg: JsMsg
  messageId: string
  message: Envelope<S>
  ctx: HandlerContext
}

export class InboxConsumer<S extends Subject> {
  private readonly settings: ConsumerSettings
  private running = false
  private loop: Promise<void> | undefined
  private workers: Promise<void>[] = []
  private messages: ConsumerMessages | undefined
  private readonly buffer: JsMsg[] = []
  /** Workers waiting for messages. */
  private idleWorkers: (() => void)[] = []
  private cleanupTimer: Timer | undefined
  private keepAliveTimer: Timer | undefined
  /** True once the durable consumer exists and messages are being pulled. */
  ready = false
  readonly stats: ConsumerStats = { handled: 0, duplicates: 0, deadLettered: 0, retried: 0, redelivered: 0, transactions: 0 }
  /** Called with each handled message's processing time in ms (for metrics). */
  onHandled: ((ms: number, outcome: 'handled' | 'duplicate') => void) | undefined

  constructor(
    private readonly deps: {
      db: Executor
      nc: NatsConnection
      log: Logger
      stream: string
      durable: string
      subjects: readonly S[]
      handle: MessageHandler<S>
      /**
       * Run in the same transaction for the messages the inbox already holds
       * (redelivered after a crash between commit and ack): what must happen
       * again for them. Orders announces the orders' current status again,
       * since the crash may have cut the first announcement off.
       */
      handleDuplicates?: MessageHandler<S>
      /**
       * The row a message's handler locks (payments: the account). A batch is
       * handled in this order, so concurrent transactions take their locks in
       * the same order and cannot deadlock.
       */
      lockKey?: (message: Envelope<S>) => string
      /** Declares the durable consumer (shared/messaging/nats.ts ensureConsumer); run before each (re)start of pulling. */
      prepare?: () => Promise<void>
      /** Whose spans the deliveries are (shared/tracing.ts). */
      component: Component
    },
    settings: Partial<ConsumerSettings> = {},
  ) {
    this.settings = { ...DEFAULT_CONSUMER, ...settings }
  }

  start(): void {
    if (this.running) return
    this.running = true
    this.cleanupTimer = setInterval(() => void this.cleanupInbox(), 10 * 60_000)
    this.keepAliveTimer = setInterval(() => this.keepAlive(), Math.max(100, Math.floor(this.settings.ackWaitMs / 3)))
    this.loop = this.read()
    this.workers = Array.from({ length: this.settings.concurrency }, () => this.work())
  }

  /** Stops pulling, lets the messages in hand finish, and returns. */
  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    clearInterval(this.cleanupTimer)
    await this.messages?.close().catch(() => {})
    await this.loop
    this.wakeAllWorkers()
    await Promise.allSettled(this.workers)
    clearInterval(this.keepAliveTimer)
    this.ready = false
  }

  /**
   * Tells JetStream that the messages waiting in the buffer are still wanted,
   * so one queued behind slow transactions is not redelivered meanwhile.
   * Messages inside a transaction are not kept alive: a transaction stalled
   * past ack_wait lets JetStream redeliver them (the inbox absorbs it).
   */
  private keepAlive(): void {
    for (const msg of this.buffer) msg.working()
  }

  /** Moves messages from the server into the buffer. */
  private async read(): Promise<void> {
    const js = jetstream(this.deps.nc)
    let missingSince: number | undefined
    let missingReported = false
    while (this.running) {
      try {
        await this.deps.prepare?.()
        if (missingReported) this.deps.log.info({ durable: this.deps.durable }, 'consumed stream is there now; consuming')
        missingSince = undefined
        missingReported = false
        const consumer: Consumer = await js.consumers.get(this.deps.stream, this.deps.durable)
        // Short pulls (5 s, heartbeats every 2.5 s): a consumer whose cluster node died is noticed in
        // seconds rather than after the default 30 s, and the loop below starts again on another node.
        this.messages = await consumer.consume({ max_messages: this.settings.pullBatch, expires: 5000 })
        // stop() may have come while we were connecting: it found nothing to close.
        if (!this.running) {
          // Not awaited: closing a pull that has just been set up may not settle until its first request ends.
          void this.messages.close().catch(() => {})
          break
        }
        this.ready = true
        // Everything delivered goes straight into the buffer, where keepAlive()
        // reaches it (a message left waiting inside the client's iterator could
        // not be kept alive). The buffer is bounded by the consumer's
        // max_ack_pending: the server sends no more than that unacknowledged.
        for await (const msg of this.messages) {
          this.buffer.push(msg)
          this.wakeAllWorkers()
          if (!this.running) break
        }
      } catch (error) {
        if (error instanceof StreamMissingError) {
          // The owner may simply be starting too: quiet for a few seconds, then one line, then waiting.
          missingSince ??= Date.now()
          if (!missingReported && Date.now() - missingSince > STREAM_MISSING_REPORT_MS) {
            missingReported = true
            this.deps.log.error({ stream: error.stream, owner: error.owner }, error.message)
          }
        } else if (this.running) this.deps.log.warn({ err: error, durable: this.deps.durable }, 'consume loop failed; restarting')
      }
      this.ready = false
      // The iterator ends on close() or when the client gives up (missed
      // heartbeats, consumer deleted): start again unless we are stopping.
      if (this.running) await Bun.sleep(500)
    }
  }

  /** One of `concurrency` loops: takes what the buffer holds, handles it in one transaction. */
  private async work(): Promise<void> {
    for (;;) {
      if (this.buffer.length === 0) {
        if (!this.running) return
        await new Promise<void>((resolve) => this.idleWorkers.push(resolve))
        continue
      }
      const batch = this.buffer.splice(0, this.settings.batchSize)
      await this.processBatch(batch)
    }
  }

  private wakeAllWorkers(): void {
    const waiting = this.idleWorkers
    this.idleWorkers = []
    for (const wake of waiting) wake()
  }

  private async processBatch(batch: JsMsg[]): Promise<void> {
    const valid: Decoded<S>[] = []
    for (const msg of batch) {
      const decoded = await this.decode(msg)
      if (decoded) valid.push(decoded)
    }
    if (valid.length === 0) return
    if (valid.length === 1) return this.processAlone(valid[0]!)
    const lockKey = this.deps.lockKey
    if (lockKey) valid.sort((a, b) => (lockKey(a.message) < lockKey(b.message) ? -1 : lockKey(a.message) > lockKey(b.message) ? 1 : 0))
    try {
      await this.handleInTransaction(valid)
    } catch (error) {
      if (error instanceof SimulatedCrash) return this.crashed(error, valid)
      this.deps.log.info({ err: error, messages: valid.length }, 'batch failed; handling its messages one by one')
      for (const item of valid) await this.processAlone(item)
    }
  }

  private async processAlone(item: Decoded<S>): Promise<void> {
    try {
      await this.handleInTransaction([item])
    } catch (error) {
      if (error instanceof SimulatedCrash) return this.crashed(error, [item])
      if (error instanceof PoisonMessageError) {
        endSpan(item.ctx.span, error)
        return this.reject(item.msg, item.messageId, error, item.ctx.log)
      }
      const deliveryCount = item.msg.info.deliveryCount
      if (deliveryCount >= this.settings.maxDeliver) {
        const reason = new PoisonMessageError(`gave up after ${deliveryCount} deliveries: ${String(error)}`)
        endSpan(item.ctx.span, reason)
        return this.reject(item.msg, item.messageId, reason, item.ctx.log)
      }
      const delay = nakDelayMs(deliveryCount)
      this.stats.retried += 1
      item.ctx.log.warn({ err: error, retryInMs: delay }, 'message handling failed; will be redelivered')
      item.msg.nak(delay)
      endSpan(item.ctx.span, error)
    }
  }

  /** The heart of it: inbox rows and handlers in one transaction, acks after commit. */
  private async handleInTransaction(items: Decoded<S>[]): Promise<void> {
    const started = performance.now()
    const outcome = await this.deps.db.transaction(async (tx) => {
      // One prepared statement whatever the batch's size: the ids and subjects as two array parameters.
      const fresh = await runPrepared<{ messageId: string }>(
        tx,
        'inbox.insert',
        sql`insert into ${inbox} (message_id, subject)
          select * from unnest(${arrayParam(
            items.map((item) => item.messageId),
            'text',
          )}, ${arrayParam(
            items.map((item) => item.msg.subject),
            'text',
          )})
          on conflict do nothing
          returning message_id as "messageId"`,
      )
      const freshIds = new Set(fresh.map((row) => row.messageId))
      // Two deliveries of one message in the same batch: only the first is fresh.
      const toHandle = items.filter((item) => freshIds.delete(item.messageId))
      const handled = new Set(toHandle)
      const duplicates = items.filter((item) => !handled.has(item))
      const afterHandled = toHandle.length > 0 ? await this.deps.handle(tx, toHandle) : undefined
      const afterDuplicates = duplicates.length > 0 ? await this.deps.handleDuplicates?.(tx, duplicates) : undefined
      failpoint(`${this.deps.durable}.before-commit`)
      return {
        handled,
        afterCommit: () => {
          afterHandled?.()
          afterDuplicates?.()
        },
      }
    })
    this.stats.transactions += 1
    failpoint(`${this.deps.durable}.after-commit`)
    const elapsed = performance.now() - started
    for (const item of items) {
      item.msg.ack()
      if (item.msg.info.deliveryCount > 1) this.stats.redelivered += 1
      if (outcome.handled.has(item)) {
        this.stats.handled += 1
        this.onHandled?.(elapsed, 'handled')
        item.ctx.log.debug('message handled')
      } else {
        this.stats.duplicates += 1
        this.onHandled?.(elapsed, 'duplicate')
        item.ctx.log.info('duplicate message skipped (already in inbox)')
      }
      item.ctx.span?.setAttribute('gozon.outcome', outcome.handled.has(item) ? 'handled' : 'duplicate')
      endSpan(item.ctx.span)
    }
    outcome.afterCommit()
  }

  /** Parses and validates; a message that can never be handled is dead-lettered here. */
  private async decode(msg: JsMsg): Promise<Decoded<S> | undefined> {
    const messageId = msg.headers?.get('Nats-Msg-Id') || undefined
    const requestId = msg.headers?.get(REQUEST_ID_HEADER) || undefined
    const deliveryCount = msg.info.deliveryCount
    const log = this.deps.log.child({ messageId, subject: msg.subject, streamSeq: msg.seq, requestId, deliveryCount })
    const span = this.deliverySpan(msg, messageId)
    try {
      if (!messageId) throw new PoisonMessageError('message has no Nats-Msg-Id header')
      const message = decodeMessage(this.deps.subjects, msg.subject, msg.data)
      const orderLog = 'orderId' in message.payload ? log.child({ orderId: message.payload.orderId }) : log
      if ('orderId' in message.payload) span?.setAttribute('gozon.order_id', message.payload.orderId)
      return { msg, messageId, message, ctx: { messageId, requestId, deliveryCount, log: orderLog, span } }
    } catch (error) {
      await this.reject(msg, messageId, error, log)
      endSpan(span, error)
      return undefined
    }
  }

  /** A CONSUMER span for one delivery, continuing the publisher's trace (none when tracing is off). */
  private deliverySpan(msg: JsMsg, messageId: string | undefined): Span | undefined {
    if (!tracingOn()) return undefined
    return startSpan(this.deps.component, `process ${msg.subject}`, SpanKind.CONSUMER, contextFrom(msg.headers), {
      'messaging.system': 'nats',
      'messaging.destination.name': msg.subject,
      'messaging.consumer.group.name': this.deps.durable,
      ...(messageId ? { 'messaging.message.id': messageId } : {}),
      'gozon.delivery_count': msg.info.deliveryCount,
    })
  }

  /** Behave like a dead process: no ack, no nak; JetStream redelivers after ack_wait. */
  private crashed(error: SimulatedCrash, items: Decoded<S>[]): void {
    for (const item of items) {
      item.ctx.log.error({ failpoint: error.failpoint }, 'simulated crash: message left unacknowledged')
      endSpan(item.ctx.span, error)
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
        payload: new TextDecoder()
          .decode(msg.data)
          .slice(0, 64 * 1024)
          .replaceAll('\u0000', '\\u0000'),
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

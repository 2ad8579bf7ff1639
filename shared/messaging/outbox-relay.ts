// The outbox relay: moves committed outbox rows to JetStream, two ways.
//
// Eagerly: the code that committed outbox rows hands them to publishNow()
// right after its commit. They are published at once (Nats-Msg-Id = the row
// id) and, once JetStream acknowledged them, marked published together with
// the others of the last few milliseconds in one statement. This keeps the
// relay off the order's critical path and costs a fraction of a transaction
// per message.
//
// As a sweeper: every round leases the rows still unpublished after a grace
// period (a crash between commit and publish or between publish and mark, a
// failed publish, rows of an instance that died) in one short statement
// (FOR UPDATE SKIP LOCKED, then claimed_until), so several relays can sweep
// side by side and no transaction stays open while NATS is called; it
// publishes them concurrently, waits for the acks and marks them. A crash
// anywhere leaves rows unpublished, and they are published again under the
// same ids once the lease is over, which JetStream's duplicate window and the
// consumer's inbox absorb.
import { type JetStreamClient, jetstream } from '@nats-io/jetstream'
import { type NatsConnection, headers as natsHeaders } from '@nats-io/transport-node'
import { and, asc, inArray, isNotNull, isNull, lt, or, sql } from 'drizzle-orm'
import { backoffMs } from '../backoff'
import { arrayLiteral, type Executor } from '../db/client'
import { outbox } from '../db/messaging-tables'
import { failpoint, SimulatedCrash } from '../failpoints'
import type { Logger } from '../logger'
import { type Component, contextFrom, endSpan, type Span, SpanKind, startSpan, traceparentOf, tracingOn } from '../tracing'
import { REQUEST_ID_HEADER, type Subject, TRACEPARENT_HEADER } from './contracts'

/**
 * The relay's statements, prepared once (Drizzle's .prepare() with
 * placeholders): the claim of a batch of unpublished rows under a lease, the
 * mark of published rows, and giving a failed row's lease back. The ids go
 * as one array parameter, so one statement serves every batch size.
 */
function relayStatements(db: Executor) {
  const ids = sql`${outbox.id} = any(${sql.placeholder('ids')}::text[])`
  const claimable = db
    .select({ id: outbox.id })
    .from(outbox)
    .where(
      and(
        isNull(outbox.publishedAt),
        lt(outbox.createdAt, sql`now() - make_interval(secs => ${sql.placeholder('graceSeconds')}::float8)`),
        or(isNull(outbox.claimedUntil), lt(outbox.claimedUntil, sql`now()`)),
      ),
    )
    .orderBy(asc(outbox.createdAt))
    .limit(sql.placeholder('batchSize'))
    .for('update', { skipLocked: true })
  return {
    claim: db
      .update(outbox)
      .set({ claimedUntil: sql`now() + make_interval(secs => ${sql.placeholder('leaseSeconds')}::float8)` })
      .where(inArray(outbox.id, claimable))
      .returning({
        id: outbox.id,
        subject: outbox.subject,
        payload: outbox.payload,
        requestId: outbox.requestId,
        traceContext: outbox.traceContext,
        createdAt: outbox.createdAt,
      })
      .prepare('outbox.claim'),
    markPublished: db.update(outbox).set({ publishedAt: sql`now()`, claimedUntil: null }).where(ids).prepare('outbox.mark-published'),
    giveBack: db.update(outbox).set({ claimedUntil: null }).where(ids).prepare('outbox.give-back'),
  }
}

type RowToPublish = { id: string; subject: string; payload: unknown; requestId?: string | null; traceContext?: string | null }

import type { OutgoingMessage } from './outbox'

export type RelaySettings = {
  batchSize: number
  pollIntervalMs: number
  publishTimeoutMs: number
  /** Published rows are deleted after this long. */
  retentionMs: number
  cleanupIntervalMs: number
  /** The sweeper leaves rows younger than this to eager publishing. */
  graceMs: number
  /** Eagerly published rows are marked in one statement at most this often. */
  markIntervalMs: number
  /** How long a swept row stays leased to the relay publishing it (longer than a publish can take). */
  leaseMs: number
}

export const DEFAULT_RELAY: RelaySettings = {
  batchSize: 500,
  pollIntervalMs: 1000,
  publishTimeoutMs: 5000,
  retentionMs: 24 * 3600_000,
  cleanupIntervalMs: 60_000,
  graceMs: 2000,
  markIntervalMs: 100,
  leaseMs: 15_000,
}

const MAX_BACKOFF_MS = 5000

export class OutboxRelay {
  private readonly js: JetStreamClient
  private readonly settings: RelaySettings
  private readonly statements: ReturnType<typeof relayStatements>
  private running = false
  private loop: Promise<void> | undefined
  private wakeRequested = false
  private wakeUp: (() => void) | undefined
  private cleanupTimer: Timer | undefined
  private markTimer: Timer | undefined
  /** Ids published eagerly and acknowledged, not yet marked in the table. */
  private toMark: string[] = []
  /** Messages handed to publishNow() in this turn of the event loop. */
  private eager: OutgoingMessage<Subject>[] = []
  private marking: Promise<void> = Promise.resolve()
  /** Rows published (acked by JetStream), and how many of those JetStream reported as duplicates. */
  readonly stats = { published: 0, duplicates: 0, failed: 0 }
  /** Called after each published batch with the time from claim to the last acknowledgement (for metrics). */
  onPublished: ((ms: number, count: number) => void) | undefined

  constructor(
    /** `component`: whose spans the publishes are (shared/tracing.ts). */
    private readonly deps: { db: Executor; nc: NatsConnection; log: Logger; name: string; component: Component },
    settings: Partial<RelaySettings> = {},
  ) {
    this.js = jetstream(deps.nc)
    this.settings = { ...DEFAULT_RELAY, ...settings }
    this.statements = relayStatements(deps.db)
  }

  async start(): Promise<void> {
    if (this.running) return
    this.running = true
    this.cleanupTimer = setInterval(() => void this.cleanup(), this.settings.cleanupIntervalMs)
    this.markTimer = setInterval(() => void this.markPublished(), this.settings.markIntervalMs)
    this.loop = this.run()
  }

  /**
   * Publishes rows just committed by this process, without waiting for a
   * round. Messages handed over in the same turn of the event loop go out
   * together (one socket write to NATS). Rows whose publish fails stay
   * unpublished for the sweeper.
   */
  publishNow(messages: OutgoingMessage<Subject>[]): void {
    if (!this.running || messages.length === 0) return
    this.eager.push(...messages)
    if (this.eager.length === messages.length) setImmediate(() => this.publishEager())
  }

  private publishEager(): void {
    const messages = this.eager
    this.eager = []
    const started = performance.now()
    void this.publishRows(messages).then((results) => {
      const acked = messages.filter((_, i) => results[i]!.status === 'fulfilled').map((m) => m.id)
      try {
        failpoint(`${this.deps.name}.after-publish`)
      } catch {
        return // a simulated crash: published, never marked; the sweeper takes over
      }
      this.toMark.push(...acked)
      this.onPublished?.(performance.now() - started, acked.length)
    })
  }

  /** Marks the eagerly published rows, one statement for all of them. */
  private markPublished(): Promise<void> {
    if (this.toMark.length === 0) return this.marking
    const ids = this.toMark
    this.toMark = []
    this.marking = this.marking.then(async () => {
      try {
        await this.statements.markPublished.execute({ ids: arrayLiteral(ids) })
      } catch (error) {
        // Not marked: the sweeper will publish them again, JetStream will drop the duplicates.
        this.deps.log.warn({ err: error, rows: ids.length }, 'could not mark published rows')
      }
    })
    return this.marking
  }

  /** Ask for a round now (after a commit that wrote outbox rows). */
  wake(): void {
    this.wakeRequested = true
    this.wakeUp?.()
  }

  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    clearInterval(this.cleanupTimer)
    clearInterval(this.markTimer)
    this.wakeUp?.()
    await this.loop
    await this.markPublished()
  }

  private async run(): Promise<void> {
    let failures = 0
    while (this.running) {
      this.wakeRequested = false
      try {
        const { claimed, failed } = await this.publishBatch()
        if (failed > 0) throw new Error(`${failed} of ${claimed} publishes failed`)
        failures = 0
        if (claimed >= this.settings.batchSize) continue
      } catch (error) {
        if (error instanceof SimulatedCrash) {
          // Behave like a dead process: stop where we are; start() begins afresh.
          this.deps.log.error({ failpoint: error.failpoint }, 'relay crashed at fail point')
          this.running = false
          clearInterval(this.cleanupTimer)
          clearInterval(this.markTimer)
          this.toMark = []
          return
        }
        failures += 1
        const delay = backoffMs(failures, { baseMs: 200, maxMs: MAX_BACKOFF_MS })
        this.deps.log.warn({ err: error, relay: this.deps.name, retryInMs: delay }, 'outbox relay round failed')
        await this.pause(delay, false)
        continue
      }
      await this.pause(this.settings.pollIntervalMs, true)
    }
  }

  /**
   * One round, without holding a transaction across the network: lease a batch
   * in one statement (claimed_until; other relays skip leased rows), publish
   * them all concurrently, then mark the acknowledged ones published and give
   * the lease of the failed ones back. A crash after the lease leaves the rows
   * unpublished; once the lease runs out another round publishes them again
   * under the same ids. Exposed for tests.
   */
  async publishBatch(): Promise<{ claimed: number; failed: number }> {
    const started = performance.now()
    const claimed = await this.statements.claim.execute({
      graceSeconds: this.settings.graceMs / 1000,
      leaseSeconds: this.settings.leaseMs / 1000,
      batchSize: this.settings.batchSize,
    })
    if (claimed.length === 0) return { claimed: 0, failed: 0 }
    const rows = claimed.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())

    const results = await this.publishRows(rows)
    failpoint(`${this.deps.name}.after-publish`)
    const ackedIds = rows.filter((_, i) => results[i]!.status === 'fulfilled').map((r) => r.id)
    const failedIds = rows.filter((_, i) => results[i]!.status === 'rejected').map((r) => r.id)
    if (ackedIds.length > 0) await this.statements.markPublished.execute({ ids: arrayLiteral(ackedIds) })
    if (failedIds.length > 0) await this.statements.giveBack.execute({ ids: arrayLiteral(failedIds) })
    this.onPublished?.(performance.now() - started, ackedIds.length)
    this.deps.log.debug({ relay: this.deps.name, published: ackedIds.length }, 'outbox batch published')
    return { claimed: rows.length, failed: failedIds.length }
  }

  /** Publishes concurrently, all acks in flight at once; counts what JetStream said. */
  private async publishRows(rows: RowToPublish[]) {
    const spans = rows.map((row) => this.publishSpan(row))
    const results = await Promise.allSettled(
      rows.map((row, i) => {
        const h = natsHeaders()
        if (row.requestId) h.set(REQUEST_ID_HEADER, row.requestId)
        const traceparent = traceparentOf(spans[i])
        if (traceparent) h.set(TRACEPARENT_HEADER, traceparent)
        return this.js.publish(row.subject, JSON.stringify(row.payload), {
          msgID: row.id,
          headers: h,
          timeout: this.settings.publishTimeoutMs,
        })
      }),
    )
    for (const [i, result] of results.entries()) {
      if (result.status === 'rejected') {
        this.stats.failed += 1
        this.deps.log.warn({ err: result.reason, messageId: rows[i]!.id, subject: rows[i]!.subject }, 'publish failed')
        endSpan(spans[i], result.reason)
      } else {
        this.stats.published += 1
        spans[i]?.setAttribute('gozon.duplicate', result.value.duplicate)
        if (result.value.duplicate) {
          this.stats.duplicates += 1
          this.deps.log.info({ messageId: rows[i]!.id }, 'publish was a duplicate; JetStream already had it')
        }
        endSpan(spans[i])
      }
    }
    return results
  }

  /** A PRODUCER span continuing the trace of the transaction that wrote the row (none when tracing is off). */
  private publishSpan(row: RowToPublish): Span | undefined {
    if (!tracingOn()) return undefined
    const orderId = (row.payload as { orderId?: unknown } | null)?.orderId
    return startSpan(this.deps.component, `publish ${row.subject}`, SpanKind.PRODUCER, contextFrom(row.traceContext), {
      'messaging.system': 'nats',
      'messaging.destination.name': row.subject,
      'messaging.message.id': row.id,
      ...(typeof orderId === 'string' ? { 'gozon.order_id': orderId } : {}),
    })
  }

  /** Deletes published rows older than the retention period, a bounded batch at a time. */
  async cleanup(): Promise<number> {
    try {
      const cutoff = new Date(Date.now() - this.settings.retentionMs)
      const stale = this.deps.db
        .select({ id: outbox.id })
        .from(outbox)
        .where(and(isNotNull(outbox.publishedAt), lt(outbox.publishedAt, cutoff)))
        .limit(10_000)
      const deleted = await this.deps.db.delete(outbox).where(inArray(outbox.id, stale)).returning({ id: outbox.id })
      return deleted.length
    } catch (error) {
      this.deps.log.warn({ err: error }, 'outbox cleanup failed')
      return 0
    }
  }

  /**
   * Waits up to `ms`. stop() always cuts it short; wake() does too unless the
   * pause is a back-off after a failure, which should not be hurried.
   */
  private pause(ms: number, wakeable: boolean): Promise<void> {
    if (!this.running || (wakeable && this.wakeRequested)) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.wakeUp = undefined
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.wakeUp = () => {
        if (wakeable || !this.running) done()
      }
    })
  }
}

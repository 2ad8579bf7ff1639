// The outbox relay: moves committed outbox rows to JetStream.
//
// Each round claims a batch of unpublished rows with FOR UPDATE SKIP LOCKED
// (so several relays can run side by side without publishing the same row at
// once), publishes them all concurrently with Nats-Msg-Id = the row id, waits
// for JetStream's acks, then marks the acknowledged rows published in one
// statement, all in one transaction. A crash between publish and mark leaves
// the rows unpublished; the next round publishes them again under the same
// ids, which JetStream's duplicate window and the consumer's inbox absorb.
//
// It is woken in-process by the code that commits outbox rows (wake()), and
// polls as a fallback: for rows written by an instance whose relay died, and
// for a wake-up that came while a round was failing.
import { type JetStreamClient, jetstream } from '@nats-io/jetstream'
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node'
import { and, asc, inArray, isNotNull, isNull, lt, sql } from 'drizzle-orm'
import type { Executor } from '../db/client'
import { outbox } from '../db/messaging-tables'
import { failpoint, SimulatedCrash } from '../failpoints'
import type { Logger } from '../logger'
import { REQUEST_ID_HEADER } from './contracts'

export type RelaySettings = {
  batchSize: number
  pollIntervalMs: number
  publishTimeoutMs: number
  /** Published rows are deleted after this long. */
  retentionMs: number
  cleanupIntervalMs: number
}

export const DEFAULT_RELAY: RelaySettings = {
  batchSize: 500,
  pollIntervalMs: 1000,
  publishTimeoutMs: 5000,
  retentionMs: 24 * 3600_000,
  cleanupIntervalMs: 60_000,
}

const MAX_BACKOFF_MS = 5000

export class OutboxRelay {
  private readonly js: JetStreamClient
  private readonly settings: RelaySettings
  private running = false
  private loop: Promise<void> | undefined
  private wakeRequested = false
  private wakeUp: (() => void) | undefined
  private cleanupTimer: Timer | undefined
  /** Rows published (acked by JetStream), and how many of those JetStream reported as duplicates. */
  readonly stats = { published: 0, duplicates: 0, failed: 0 }
  /** Called after each published batch with the time from claim to the last acknowledgement (for metrics). */
  onPublished: ((ms: number, count: number) => void) | undefined

  constructor(
    private readonly deps: { db: Executor; nc: NatsConnection; log: Logger; name: string },
    settings: Partial<RelaySettings> = {},
  ) {
    this.js = jetstream(deps.nc)
    this.settings = { ...DEFAULT_RELAY, ...settings }
  }

  async start(): Promise<void> {
    if (this.running) return
    this.running = true
    this.cleanupTimer = setInterval(() => void this.cleanup(), this.settings.cleanupIntervalMs)
    this.loop = this.run()
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
    this.wakeUp?.()
    await this.loop
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
          return
        }
        failures += 1
        const delay = Math.min(MAX_BACKOFF_MS, 100 * 2 ** Math.min(failures, 10))
        this.deps.log.warn({ err: error, relay: this.deps.name, retryInMs: delay }, 'outbox relay round failed')
        await this.pause(delay, false)
        continue
      }
      await this.pause(this.settings.pollIntervalMs, true)
    }
  }

  /**
   * One round, in one transaction: claim and mark a batch in one statement
   * (the rows stay locked until commit), publish them all concurrently, put
   * back the few whose publish failed, commit. A crash before commit undoes
   * the marks, so the rows are published again. Exposed for tests.
   */
  async publishBatch(): Promise<{ claimed: number; failed: number }> {
    const started = performance.now()
    return this.deps.db.transaction(async (tx) => {
      const claimable = tx
        .select({ id: outbox.id })
        .from(outbox)
        .where(isNull(outbox.publishedAt))
        .orderBy(asc(outbox.createdAt))
        .limit(this.settings.batchSize)
        .for('update', { skipLocked: true })
      const claimed = await tx
        .update(outbox)
        .set({ publishedAt: sql`now()` })
        .where(inArray(outbox.id, claimable))
        .returning({ id: outbox.id, subject: outbox.subject, payload: outbox.payload, requestId: outbox.requestId, createdAt: outbox.createdAt })
      if (claimed.length === 0) return { claimed: 0, failed: 0 }
      const rows = claimed.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())

      const results = await Promise.allSettled(
        rows.map((row) => {
          const h = natsHeaders()
          if (row.requestId) h.set(REQUEST_ID_HEADER, row.requestId)
          return this.js.publish(row.subject, JSON.stringify(row.payload), {
            msgID: row.id,
            headers: h,
            timeout: this.settings.publishTimeoutMs,
          })
        }),
      )
      failpoint(`${this.deps.name}.after-publish`)
      const failedIds = rows.filter((_, i) => results[i]!.status === 'rejected').map((r) => r.id)
      if (failedIds.length > 0) {
        await tx.update(outbox).set({ publishedAt: null }).where(inArray(outbox.id, failedIds))
      }
      const published = rows.length - failedIds.length
      for (const [i, result] of results.entries()) {
        if (result.status === 'rejected') {
          this.stats.failed += 1
          this.deps.log.warn({ err: result.reason, messageId: rows[i]!.id, subject: rows[i]!.subject }, 'publish failed')
        } else if (result.value.duplicate) {
          this.stats.duplicates += 1
          this.deps.log.info({ messageId: rows[i]!.id }, 'publish was a duplicate; JetStream already had it')
        }
      }
      this.stats.published += published
      this.onPublished?.(performance.now() - started, published)
      this.deps.log.debug({ relay: this.deps.name, published }, 'outbox batch published')
      return { claimed: rows.length, failed: failedIds.length }
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

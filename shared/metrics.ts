// Prometheus metrics (prom-client), served at GET /metrics by every service.
// Counters that the relay and consumer already keep (their `stats`) are read
// at scrape time; database figures (outbox backlog, dead letters) are queried
// at scrape time too, so nothing is counted twice or kept in two places.
import { timingSafeEqual } from 'node:crypto'
import { Elysia } from 'elysia'
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { Executor } from './db/client'
import { deadLetterCount, outboxBacklog } from './db/messaging-figures'
import { errorResponse } from './errors'
import { bearerToken } from './http/bearer'
import type { Subject } from './messaging/contracts'
import type { InboxConsumer } from './messaging/inbox-consumer'
import type { OutboxRelay } from './messaging/outbox-relay'

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

export function createRegistry(service: string): Registry {
  const registry = new Registry()
  registry.setDefaultLabels({ service })
  collectDefaultMetrics({ register: registry })
  return registry
}

/** Decides whether a scrape may read the figures; a Response refuses it. */
export type ScrapeGuard = (request: Request) => Response | undefined

/**
 * /metrics needs `Authorization: Bearer <METRICS_TOKEN>`, from anywhere, the
 * same machine included: a reverse proxy on that machine makes every caller
 * look local. Without METRICS_TOKEN no one may scrape (`bun start` makes one,
 * in .data/secrets.json).
 */
export function metricsTokenGuard(token: string | undefined): ScrapeGuard {
  const expected = token === undefined ? undefined : Buffer.from(token)
  return (request) => {
    const given = Buffer.from(bearerToken(request) ?? '')
    if (expected && given.length === expected.length && timingSafeEqual(given, expected)) return undefined
    const refused = errorResponse('metrics_token_required')
    refused.headers.set('www-authenticate', 'Bearer realm="gozon-metrics"')
    return refused
  }
}

/** Request durations by method, route (the pattern, not the URL) and status, and the /metrics route itself (behind `guard`). */
export function httpMetrics(registry: Registry, guard: ScrapeGuard) {
  const duration = new Histogram({
    name: 'gozon_http_request_duration_seconds',
    help: 'HTTP request duration by method, route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  })
  const started = new WeakMap<Request, number>()
  return new Elysia({ name: 'gozon.http-metrics' })
    .onRequest(({ request }) => {
      started.set(request, performance.now())
    })
    .onAfterResponse({ as: 'global' }, ({ request, route, set }) => {
      const start = started.get(request)
      if (start === undefined) return
      const status = typeof set.status === 'number' ? set.status : 200
      duration.observe({ method: request.method, route: route || 'unmatched', status }, (performance.now() - start) / 1000)
    })
    .get('/metrics', async ({ request }) => guard(request) ?? new Response(await registry.metrics(), { headers: { 'content-type': registry.contentType } }), {
      detail: { hide: true },
    })
}

/** The messaging figures of a back-end service: its outbox, relay, consumer and dead letters. */
export function messagingMetrics<S extends Subject>(registry: Registry, deps: { db: Executor; relay: OutboxRelay; consumer: InboxConsumer<S> }) {
  const { db, relay, consumer } = deps
  new Gauge({
    name: 'gozon_outbox_pending_rows',
    help: 'Outbox rows not yet marked published (eagerly published rows are marked within about 100 ms)',
    registers: [registry],
    async collect() {
      const backlog = await outboxBacklog(db)
      this.set(backlog.pending)
      oldest.set(backlog.oldestAgeSeconds)
    },
  })
  const oldest = new Gauge({
    name: 'gozon_outbox_oldest_pending_age_seconds',
    help: 'Age of the oldest unpublished outbox row (0 when none)',
    registers: [registry],
  })
  new Gauge({
    name: 'gozon_dead_letters',
    help: 'Messages recorded in dead_letters',
    registers: [registry],
    async collect() {
      this.set(await deadLetterCount(db))
    },
  })
  new Counter({
    name: 'gozon_outbox_published_total',
    help: 'Outbox rows published and acknowledged by JetStream (duplicates: JetStream already had the id)',
    labelNames: ['result'],
    registers: [registry],
    collect() {
      this.reset()
      this.inc({ result: 'stored' }, relay.stats.published - relay.stats.duplicates)
      this.inc({ result: 'duplicate' }, relay.stats.duplicates)
      this.inc({ result: 'failed' }, relay.stats.failed)
    },
  })
  const publish = new Histogram({
    name: 'gozon_outbox_publish_batch_seconds',
    help: 'Time to publish a claimed batch and have every message acknowledged',
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  })
  relay.onPublished = (ms) => publish.observe(ms / 1000)
  new Counter({
    name: 'gozon_consumer_messages_total',
    help: 'Messages by outcome: handled, duplicate (skipped by the inbox), dead_lettered, retried (naked for redelivery)',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      this.reset()
      this.inc({ outcome: 'handled' }, consumer.stats.handled)
      this.inc({ outcome: 'duplicate' }, consumer.stats.duplicates)
      this.inc({ outcome: 'dead_lettered' }, consumer.stats.deadLettered)
      this.inc({ outcome: 'retried' }, consumer.stats.retried)
    },
  })
  new Counter({
    name: 'gozon_consumer_redeliveries_total',
    help: 'Messages that arrived with a delivery count above 1',
    registers: [registry],
    collect() {
      this.reset()
      this.inc(consumer.stats.redelivered)
    },
  })
  const processing = new Histogram({
    name: 'gozon_consumer_processing_seconds',
    help: 'Time from the start of a message transaction to its commit',
    labelNames: ['outcome'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  })
  consumer.onHandled = (ms, outcome) => processing.observe({ outcome }, ms / 1000)
}

// Wiring shared by the orders and payments services: migrate, connect to
// PostgreSQL and NATS, declare streams and the durable consumer, then run the
// HTTP app, the outbox relay and the inbox consumer. main.ts and the tests
// both start a service through here, so the tests exercise the real wiring.

import { jetstreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { AnyElysia } from 'elysia'
import type { Registry } from 'prom-client'
import { connectDatabase, type Database } from './db/client'
import { migrateDatabase } from './db/migrate'
import { forgetOldIdempotencyKeys } from './http/idempotency'
import { forgetExpiredProofNonces } from './http/proof-nonces'
import type { RateLimit } from './http/rate-limit'
import { type IdentitySettings, ProofReplayCache, warnIfInsecure } from './identity'
import { stopServer } from './lifecycle'
import type { Logger } from './logger'
import type { Envelope, StreamOwner, Subject } from './messaging/contracts'
import { InboxConsumer, type MessageHandler } from './messaging/inbox-consumer'
import { connectNats, ensureConsumer, ensureOwnStreams } from './messaging/nats'
import type { OutgoingMessage } from './messaging/outbox'
import { OutboxRelay } from './messaging/outbox-relay'
import { createRegistry, messagingMetrics } from './metrics'
import type { ServiceConfig } from './service-config'

export type ServiceDeps<TSchema extends Record<string, unknown>> = {
  db: Database<TSchema>
  nc: NatsConnection
  log: Logger
  /** Call right after committing outbox rows, with those messages: the relay publishes them at once. */
  outboxWritten: (messages: OutgoingMessage<Subject>[]) => void
  /** This service's Prometheus registry (GET /metrics). */
  metrics: Registry
  /** Per-user limit on creating things (orders, top-ups). */
  rateLimit: RateLimit
  /** How a request proves its caller (shared/identity.ts). */
  identity: IdentitySettings
  /** The nonces of the proofs this instance accepted (one cache per instance, for every route). */
  proofReplays: ProofReplayCache
  /** The service's whole configuration, as read at start. */
  config: ServiceConfig
  /** True once the service's durable consumer is pulling (for /health). */
  consumerReady: () => boolean
}

export type BackendSpec<TSchema extends Record<string, unknown>, S extends Subject> = {
  /** Also the owner name of the streams it publishes to (shared/messaging/contracts.ts STREAMS). */
  name: StreamOwner
  schema: TSchema
  migrationsFolder: string
  consumes: { stream: string; durable: string; subjects: readonly S[]; lockKey?: (message: Envelope<S>) => string }
  handler: (deps: ServiceDeps<TSchema>) => MessageHandler<S>
  /** For messages already in the inbox (redelivered after a crash past commit); see InboxConsumer. */
  duplicateHandler?: (deps: ServiceDeps<TSchema>) => MessageHandler<S>
  createApp: (deps: ServiceDeps<TSchema>) => AnyElysia
  /** Periodic work of the service besides relay and consumer (the orders sweeper). */
  background?: (deps: ServiceDeps<TSchema>, config: ServiceConfig) => { start(): void; stop(): Promise<void> }
}

export type RunningService<TSchema extends Record<string, unknown>, S extends Subject> = ServiceDeps<TSchema> & {
  port: number
  url: string
  relay: OutboxRelay
  consumer: InboxConsumer<S>
  background: { start(): void; stop(): Promise<void> } | undefined
  stop(): Promise<void>
}

export async function startBackendService<TSchema extends Record<string, unknown>, S extends Subject>(
  spec: BackendSpec<TSchema, S>,
  config: ServiceConfig,
  log: Logger,
  options: { relay?: boolean; consumer?: boolean } = {},
): Promise<RunningService<TSchema, S>> {
  warnIfInsecure(log, config.identity)
  await migrateDatabase(config.databaseUrl, spec.migrationsFolder)
  const db = connectDatabase(config.databaseUrl, spec.schema, { max: config.databasePoolMax })
  const nc = await connectNats(config.natsUrl, `gozon-${spec.name}`, log)
  const jsm = await jetstreamManager(nc)
  await ensureOwnStreams(jsm, spec.name, config.messaging, log)

  // The relay has a connection of its own: it never waits behind HTTP requests
  // for one, and its claim walks the outbox index in order (a plain index scan
  // skips rows already published, where a bitmap scan would visit them all).
  const relayDb = connectDatabase(config.databaseUrl, spec.schema, { max: 1, settings: { enable_bitmapscan: 'off' } })
  const relay = new OutboxRelay({ db: relayDb, nc, log, name: `${spec.name}.relay`, component: spec.name }, config.relay)
  const metrics = createRegistry(spec.name)
  let consumer: InboxConsumer<S> | undefined
  const deps: ServiceDeps<TSchema> = {
    db,
    nc,
    log,
    outboxWritten: (messages) => relay.publishNow(messages),
    metrics,
    rateLimit: config.rateLimit,
    identity: config.identity,
    proofReplays: new ProofReplayCache(),
    config,
    consumerReady: () => consumer?.ready ?? false,
  }
  consumer = new InboxConsumer(
    {
      db,
      nc,
      log,
      ...spec.consumes,
      handle: spec.handler(deps),
      handleDuplicates: spec.duplicateHandler?.(deps),
      prepare: () => ensureConsumer(jsm, spec.consumes, config.messaging),
      component: spec.name,
    },
    { ...config.consumer, maxDeliver: config.messaging.maxDeliver, ackWaitMs: config.messaging.ackWaitMs },
  )
  messagingMetrics(metrics, { db, relay, consumer })
  const app = spec.createApp(deps).listen({ hostname: config.host, port: config.port })
  const port = app.server?.port ?? config.port
  const background = spec.background?.(deps, config)
  if (options.relay !== false) background?.start()
  const forgetKeys = setInterval(() => void forgetOldIdempotencyKeys(db).catch(() => {}), 10 * 60_000)
  const forgetNonces = setInterval(() => void forgetExpiredProofNonces(db).catch(() => {}), 60_000)
  if (options.relay !== false) await relay.start()
  if (options.consumer !== false) consumer.start()
  log.info({ port }, `${spec.name} service listening`)

  let stopping: Promise<void> | undefined
  const stop = () => {
    stopping ??= (async () => {
      clearInterval(forgetKeys)
      clearInterval(forgetNonces)
      await stopServer(app)
      await background?.stop()
      await consumer.stop()
      await relay.stop()
      await nc.drain().catch(() => {})
      await db.$client.end({ timeout: 5 })
      await relayDb.$client.end({ timeout: 5 })
      log.info(`${spec.name} service stopped`)
    })()
    return stopping
  }
  return { ...deps, port, url: `http://127.0.0.1:${port}`, relay, consumer, background, stop }
}

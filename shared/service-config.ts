// Settings every back-end service reads the same way (NATS, messaging, relay,
// consumer, logging). Each service's config.ts adds its own on top.

import { DEFAULTS, defaultDatabaseUrl, defaultNatsUrl, EnvReader, LOG_LEVELS, type LogLevel } from './config'
import type { RateLimit } from './http/rate-limit'
import { type IdentitySettings, readIdentitySettings } from './identity'
import { type ConsumerSettings, DEFAULT_CONSUMER } from './messaging/inbox-consumer'
import { DEFAULT_MESSAGING, type MessagingSettings } from './messaging/nats'
import { DEFAULT_RELAY, type RelaySettings } from './messaging/outbox-relay'
import { readTracingEndpoint } from './tracing'

export type ServiceConfig = {
  host: string
  port: number
  databaseUrl: string
  databasePoolMax: number
  natsUrl: string
  logLevel: LogLevel
  /** A request body must have arrived this long after it started (slowloris; 408 otherwise). */
  bodyTimeoutMs: number
  /** GET /metrics needs it as a bearer token; unset, no one may scrape (shared/metrics.ts). */
  metricsToken: string | undefined
  /** OTEL_EXPORTER_OTLP_ENDPOINT: where spans go (shared/tracing.ts); unset: tracing off. */
  tracingEndpoint: string | undefined
  messaging: MessagingSettings
  relay: RelaySettings
  consumer: ConsumerSettings
  /** Per user, on the routes that create orders and top-ups. */
  rateLimit: RateLimit
  /** How callers prove who they are (shared/identity.ts). */
  identity: IdentitySettings
  /** The stuck-order sweeper (orders only; orders/sweeper.ts). */
  sweeper: AskSettings
}

/** When the orders sweeper asks payments again for an order left NEW (orders/sweeper.ts). */
export type AskSettings = {
  /** The first ask after the order's own request; also the back-off's base. */
  stuckAfterMs: number
  /** Asks in all, the order's own request included; then the order is given up and reported. */
  maxAsks: number
  /** The longest wait between two asks. */
  maxDelayMs: number
}

/** How long a request body may take to arrive, everywhere (services and gateway). */
export const DEFAULT_BODY_TIMEOUT_MS = 10_000

export const DEFAULT_ASKS: AskSettings = { stuckAfterMs: 10_000, maxAsks: 8, maxDelayMs: 600_000 }

function readServiceConfig(env: EnvReader, names: { port: string; databaseUrl: string }, defaults: { port: number; databaseUrl: string }): ServiceConfig {
  const maxDeliver = env.int('CONSUMER_MAX_DELIVER', DEFAULT_MESSAGING.maxDeliver, { min: 2, max: 1000 })
  const config: ServiceConfig = {
    // Loopback by default; compose sets HOST=0.0.0.0 inside its private network.
    host: env.string('HOST', '127.0.0.1'),
    port: env.port(names.port, defaults.port),
    databaseUrl: env.url(names.databaseUrl, defaults.databaseUrl, ['postgres:', 'postgresql:']),
    databasePoolMax: env.int('DATABASE_POOL_MAX', 10, { min: 1, max: 200 }),
    natsUrl: env.urls('NATS_URL', defaultNatsUrl, ['nats:', 'tls:']),
    logLevel: env.oneOf('LOG_LEVEL', 'info', LOG_LEVELS),
    bodyTimeoutMs: env.int('BODY_TIMEOUT_MS', DEFAULT_BODY_TIMEOUT_MS, { min: 100, max: 600_000 }),
    metricsToken: env.secret('METRICS_TOKEN', 16),
    tracingEndpoint: readTracingEndpoint(env),
    messaging: {
      duplicateWindowMs: env.int('NATS_DUPLICATE_WINDOW_MS', DEFAULT_MESSAGING.duplicateWindowMs, { min: 1000, max: 86_400_000 }),
      ackWaitMs: env.int('CONSUMER_ACK_WAIT_MS', DEFAULT_MESSAGING.ackWaitMs, { min: 500, max: 3_600_000 }),
      maxDeliver,
      streamReplicas: env.int('NATS_STREAM_REPLICAS', DEFAULT_MESSAGING.streamReplicas, { min: 1, max: 5 }),
    },
    relay: {
      ...DEFAULT_RELAY,
      batchSize: env.int('RELAY_BATCH_SIZE', DEFAULT_RELAY.batchSize, { min: 1, max: 10_000 }),
      pollIntervalMs: env.int('RELAY_POLL_INTERVAL_MS', DEFAULT_RELAY.pollIntervalMs, { min: 10, max: 60_000 }),
      retentionMs: env.int('OUTBOX_RETENTION_MS', DEFAULT_RELAY.retentionMs, { min: 0, max: 30 * 86_400_000 }),
      graceMs: env.int('RELAY_GRACE_MS', DEFAULT_RELAY.graceMs, { min: 0, max: 600_000 }),
      // Longer than a publish can take (publishTimeoutMs), or two relays could publish one row at once.
      leaseMs: env.int('RELAY_LEASE_MS', DEFAULT_RELAY.leaseMs, { min: DEFAULT_RELAY.publishTimeoutMs + 1000, max: 600_000 }),
    },
    identity: readIdentitySettings(env),
    sweeper: {
      stuckAfterMs: env.int('ORDERS_STUCK_AFTER_MS', DEFAULT_ASKS.stuckAfterMs, { min: 100, max: 3_600_000 }),
      maxAsks: env.int('ORDERS_MAX_PAYMENT_ASKS', DEFAULT_ASKS.maxAsks, { min: 1, max: 1000 }),
      maxDelayMs: env.int('ORDERS_MAX_ASK_DELAY_MS', DEFAULT_ASKS.maxDelayMs, { min: 100, max: 86_400_000 }),
    },
    rateLimit: {
      burst: env.int('RATE_LIMIT_BURST', 200, { min: 1, max: 1_000_000 }),
      perSecond: env.int('RATE_LIMIT_PER_SECOND', 50, { min: 1, max: 1_000_000 }),
    },
    consumer: {
      ...DEFAULT_CONSUMER,
      concurrency: env.int('CONSUMER_CONCURRENCY', DEFAULT_CONSUMER.concurrency, { min: 1, max: 64 }),
      batchSize: env.int('CONSUMER_BATCH_SIZE', DEFAULT_CONSUMER.batchSize, { min: 1, max: 1000 }),
      maxDeliver,
    },
  }
  return config
}

const SERVICE_DEFAULTS = {
  orders: { port: DEFAULTS.ordersPort, database: DEFAULTS.ordersDatabase },
  payments: { port: DEFAULTS.paymentsPort, database: DEFAULTS.paymentsDatabase },
} as const

/** Reads `<SERVICE>_PORT`, `<SERVICE>_DATABASE_URL` and the shared settings; throws ConfigError listing every problem. */
export function loadServiceConfig(service: keyof typeof SERVICE_DEFAULTS, env: Record<string, string | undefined> = process.env): ServiceConfig {
  const reader = new EnvReader(env)
  const prefix = service.toUpperCase()
  const defaults = SERVICE_DEFAULTS[service]
  const config = readServiceConfig(
    reader,
    { port: `${prefix}_PORT`, databaseUrl: `${prefix}_DATABASE_URL` },
    { port: defaults.port, databaseUrl: defaultDatabaseUrl(defaults.database) },
  )
  reader.done()
  return config
}

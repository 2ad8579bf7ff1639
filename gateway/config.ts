// The gateway's configuration, read once from the environment at start.

import { DEFAULTS, defaultDatabaseUrl, defaultNatsUrl, EnvReader, LOG_LEVELS, type LogLevel } from '../shared/config'
import { readIdentitySettings } from '../shared/identity'
import { DEFAULT_BODY_TIMEOUT_MS } from '../shared/service-config'
import { readTracingEndpoint } from '../shared/tracing'
import { currencyProblem } from '../views/money'
import type { AuthSettings } from './auth/authenticator'
import { KEY_ID_PATTERN, keyIdOf, type SigningKey } from './auth/tokens'

export type GatewayConfig = {
  host: string
  port: number
  ordersUrl: string
  paymentsUrl: string
  natsUrl: string
  /** The gateway's own database: user names and password hashes. */
  databaseUrl: string
  upstreamTimeoutMs: number
  /** A request body must have arrived this long after it started (slowloris; 408 otherwise). */
  bodyTimeoutMs: number
  /** How long a page waits for a service's answer to a read before saying it could not load (forms wait upstreamTimeoutMs). */
  pageReadTimeoutMs: number
  /** The shop's currency (ISO 4217, two decimals): shown with every amount on the pages and read in the forms. */
  currency: string
  logLevel: LogLevel
  auth: AuthSettings
  /** When set, GET /metrics needs `Authorization: Bearer <this>`; when not, it answers loopback callers only. */
  metricsToken: string | undefined
  /** OTEL_EXPORTER_OTLP_ENDPOINT: where spans go (shared/tracing.ts); unset: tracing off. */
  tracingEndpoint: string | undefined
  /**
   * Proxies whose X-Forwarded-For is believed for the caller's address (the
   * per-address sign-in limit): the load balancer in front of several gateways.
   */
  trustedProxies: string[]
}

/** SESSION_VERIFY_KEYS: "id:key,id:key", keys that still verify tokens and cookies but never sign. */
function readVerifyKeys(raw: string | undefined, problem: (text: string) => void): SigningKey[] {
  if (!raw?.trim()) return []
  return raw.split(',').map((entry) => {
    const at = entry.indexOf(':')
    const id = entry.slice(0, at).trim()
    const secret = entry.slice(at + 1).trim()
    if (at < 1 || !KEY_ID_PATTERN.test(id) || secret.length < 32)
      problem('SESSION_VERIFY_KEYS must be "id:key,…" with ids of 1-32 of A-Z a-z 0-9 _ - and keys of at least 32 characters')
    return { id, secret }
  })
}

export function loadGatewayConfig(env: Record<string, string | undefined> = process.env): GatewayConfig {
  const reader = new EnvReader(env)
  const sessionKey = reader.secret('SESSION_SIGNING_KEY', 32)
  if (!sessionKey) reader.problem('SESSION_SIGNING_KEY is required: at least 32 random characters (`bun start` generates one in .data/secrets.json)')
  const sessionKeyId = reader.optionalString('SESSION_SIGNING_KEY_ID') ?? keyIdOf(sessionKey ?? '')
  if (!KEY_ID_PATTERN.test(sessionKeyId)) reader.problem('SESSION_SIGNING_KEY_ID must be 1-32 of A-Z a-z 0-9 _ -')
  const verifyKeys = readVerifyKeys(reader.optionalString('SESSION_VERIFY_KEYS'), (problem) => reader.problem(problem))
  if (verifyKeys.some((k) => k.id === sessionKeyId)) reader.problem(`SESSION_VERIFY_KEYS has the signing key's id "${sessionKeyId}" again`)
  const currency = reader.string('CURRENCY', 'EUR')
  const problem = currencyProblem(currency)
  if (problem) reader.problem(`CURRENCY ${problem}`)
  const attemptsPerMinute = reader.int('AUTH_ATTEMPTS_PER_MINUTE', 6, { min: 1, max: 1_000_000 })
  const config: GatewayConfig = {
    host: reader.string('HOST', '127.0.0.1'),
    port: reader.port('GATEWAY_PORT', DEFAULTS.gatewayPort),
    ordersUrl: reader.url('ORDERS_URL', `http://127.0.0.1:${DEFAULTS.ordersPort}`, ['http:', 'https:']),
    paymentsUrl: reader.url('PAYMENTS_URL', `http://127.0.0.1:${DEFAULTS.paymentsPort}`, ['http:', 'https:']),
    natsUrl: reader.urls('NATS_URL', defaultNatsUrl, ['nats:', 'tls:']),
    databaseUrl: reader.url('GATEWAY_DATABASE_URL', defaultDatabaseUrl(DEFAULTS.identityDatabase), ['postgres:', 'postgresql:']),
    upstreamTimeoutMs: reader.int('UPSTREAM_TIMEOUT_MS', 10_000, { min: 100, max: 120_000 }),
    pageReadTimeoutMs: reader.int('PAGE_READ_TIMEOUT_MS', 2_000, { min: 100, max: 120_000 }),
    bodyTimeoutMs: reader.int('BODY_TIMEOUT_MS', DEFAULT_BODY_TIMEOUT_MS, { min: 100, max: 600_000 }),
    currency,
    logLevel: reader.oneOf('LOG_LEVEL', 'info', LOG_LEVELS),
    auth: {
      identity: readIdentitySettings(reader),
      sessionKey: { id: sessionKeyId, secret: sessionKey ?? '' },
      verifyKeys,
      sessionTtlSeconds: reader.int('SESSION_TTL_SECONDS', 7 * 24 * 3600, { min: 60, max: 365 * 24 * 3600 }),
      apiTokenTtlSeconds: reader.int('API_TOKEN_TTL_SECONDS', 3600, { min: 60, max: 30 * 24 * 3600 }),
      secureCookies: reader.boolean('SESSION_COOKIE_SECURE', false),
      hashing: {
        memoryCost: reader.int('PASSWORD_HASH_MEMORY_KIB', 19_456, { min: 64, max: 4_194_304 }),
        timeCost: reader.int('PASSWORD_HASH_TIME_COST', 2, { min: 1, max: 100 }),
      },
      attempts: {
        burst: reader.int('AUTH_ATTEMPTS_BURST', 10, { min: 1, max: 1_000_000 }),
        perSecond: attemptsPerMinute / 60,
      },
    },
    metricsToken: reader.secret('METRICS_TOKEN', 16),
    tracingEndpoint: readTracingEndpoint(reader),
    trustedProxies: reader.addresses('TRUSTED_PROXIES'),
  }
  reader.done()
  return config
}

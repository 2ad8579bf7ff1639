// The gateway's configuration, read once from the environment at start.
import { DEFAULTS, EnvReader, LOG_LEVELS, type LogLevel, defaultNatsUrl } from '../shared/config'

export type GatewayConfig = {
  host: string
  port: number
  ordersUrl: string
  paymentsUrl: string
  natsUrl: string
  upstreamTimeoutMs: number
  logLevel: LogLevel
}

export function loadGatewayConfig(env: Record<string, string | undefined> = process.env): GatewayConfig {
  const reader = new EnvReader(env)
  const config: GatewayConfig = {
    host: reader.string('HOST', '127.0.0.1'),
    port: reader.port('GATEWAY_PORT', DEFAULTS.gatewayPort),
    ordersUrl: reader.url('ORDERS_URL', `http://127.0.0.1:${DEFAULTS.ordersPort}`, ['http:', 'https:']),
    paymentsUrl: reader.url('PAYMENTS_URL', `http://127.0.0.1:${DEFAULTS.paymentsPort}`, ['http:', 'https:']),
    natsUrl: reader.url('NATS_URL', defaultNatsUrl, ['nats:', 'tls:']),
    upstreamTimeoutMs: reader.int('UPSTREAM_TIMEOUT_MS', 10_000, { min: 100, max: 120_000 }),
    logLevel: reader.oneOf('LOG_LEVEL', 'info', LOG_LEVELS),
  }
  reader.done()
  return config
}

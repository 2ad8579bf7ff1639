// The payments service's configuration, read once from the environment at start.
import { DEFAULTS, EnvReader, defaultDatabaseUrl } from '../shared/config'
import { readServiceConfig, type ServiceConfig } from '../shared/service-config'

export type PaymentsConfig = ServiceConfig

export function loadPaymentsConfig(env: Record<string, string | undefined> = process.env): PaymentsConfig {
  const reader = new EnvReader(env)
  const config = readServiceConfig(
    reader,
    { port: 'PAYMENTS_PORT', databaseUrl: 'PAYMENTS_DATABASE_URL' },
    { port: DEFAULTS.paymentsPort, databaseUrl: defaultDatabaseUrl(DEFAULTS.paymentsDatabase) },
  )
  reader.done()
  return config
}

// The orders service's configuration, read once from the environment at start.
import { DEFAULTS, EnvReader, defaultDatabaseUrl } from '../shared/config'
import { readServiceConfig, type ServiceConfig } from '../shared/service-config'

export type OrdersConfig = ServiceConfig

export function loadOrdersConfig(env: Record<string, string | undefined> = process.env): OrdersConfig {
  const reader = new EnvReader(env)
  const config = readServiceConfig(
    reader,
    { port: 'ORDERS_PORT', databaseUrl: 'ORDERS_DATABASE_URL' },
    { port: DEFAULTS.ordersPort, databaseUrl: defaultDatabaseUrl(DEFAULTS.ordersDatabase) },
  )
  reader.done()
  return config
}

// The orders service's configuration: ORDERS_PORT, ORDERS_DATABASE_URL and the
// settings every back-end service shares (see shared/service-config.ts).
import { loadServiceConfig, type ServiceConfig } from '../shared/service-config'

export type OrdersConfig = ServiceConfig

export const loadOrdersConfig = (env: Record<string, string | undefined> = process.env): OrdersConfig => loadServiceConfig('orders', env)

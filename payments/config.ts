// The payments service's configuration: PAYMENTS_PORT, PAYMENTS_DATABASE_URL and
// the settings every back-end service shares (see shared/service-config.ts).
import { loadServiceConfig, type ServiceConfig } from '../shared/service-config'

export type PaymentsConfig = ServiceConfig

export const loadPaymentsConfig = (env: Record<string, string | undefined> = process.env): PaymentsConfig => loadServiceConfig('payments', env)

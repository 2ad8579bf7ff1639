// Where the operator's commands (reconcile, backup, restore) find Gozon's
// databases, the way `bun start` finds them: ORDERS_DATABASE_URL /
// PAYMENTS_DATABASE_URL / GATEWAY_DATABASE_URL, else gozon_orders /
// gozon_payments / gozon_identity on the server DATABASE_URL names, else the
// embedded PostgreSQL's (EMBEDDED_POSTGRES_PORT, default 5433, user gozon).
import { DEFAULTS, defaultDatabaseUrl } from '../shared/config'
import { onDatabase } from '../shared/db/provision'

/** Gozon's three databases, by the service that owns each ("identity" is the gateway's). */
export type DatabaseKey = 'orders' | 'payments' | 'identity'
export const DATABASE_KEYS = ['orders', 'payments', 'identity'] as const satisfies readonly DatabaseKey[]

/** Each database's name on the server, and the migrations that build it. */
export const DATABASES: Record<DatabaseKey, { name: string; migrations: string; urlVariable: string }> = {
  orders: { name: DEFAULTS.databases.orders, migrations: 'drizzle/orders', urlVariable: 'ORDERS_DATABASE_URL' },
  payments: { name: DEFAULTS.databases.payments, migrations: 'drizzle/payments', urlVariable: 'PAYMENTS_DATABASE_URL' },
  identity: { name: DEFAULTS.databases.gateway, migrations: 'drizzle/gateway', urlVariable: 'GATEWAY_DATABASE_URL' },
}

const value = (env: Record<string, string | undefined>, name: string) => (env[name] === '' ? undefined : env[name])

/** The administrator's URL of the server: DATABASE_URL's, else the embedded PostgreSQL's, on database `postgres`. */
export function serverUrl(env: Record<string, string | undefined>): string {
  const server = value(env, 'DATABASE_URL')
  if (server) return onDatabase(server, 'postgres')
  return defaultDatabaseUrl('postgres', Number(value(env, 'EMBEDDED_POSTGRES_PORT') ?? DEFAULTS.embeddedPostgresPort))
}

/** The three databases' URLs, as the launcher derives them. */
export function operatorDatabaseUrls(env: Record<string, string | undefined>): Record<DatabaseKey, string> {
  const server = serverUrl(env)
  const url = (key: DatabaseKey) => value(env, DATABASES[key].urlVariable) ?? onDatabase(server, DATABASES[key].name)
  return { orders: url('orders'), payments: url('payments'), identity: url('identity') }
}

/** The URL without its password, for messages. */
export function shown(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return '(not a URL)'
  }
}

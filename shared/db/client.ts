// The database handle of a service: one postgres.js pool wrapped by Drizzle.
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js'
import postgres, { type Sql } from 'postgres'
import { within } from '../async'

export type Database<TSchema extends Record<string, unknown>> = PostgresJsDatabase<TSchema> & { $client: Sql }
export type Transaction<TSchema extends Record<string, unknown>> = Parameters<
  Parameters<Database<TSchema>['transaction']>[0]
>[0]

export type PoolOptions = { max?: number }

export function connectDatabase<TSchema extends Record<string, unknown>>(
  url: string,
  schema: TSchema,
  options: PoolOptions = {},
): Database<TSchema> {
  const sql = postgres(url, {
    max: options.max ?? 10,
    // Recycle idle and old sockets: dead idle sockets have been seen on Bun.
    idle_timeout: 30,
    max_lifetime: 30 * 60,
    connect_timeout: 10,
    onnotice: () => {},
  })
  return drizzle(sql, { schema }) as Database<TSchema>
}

/** True when the database answers a trivial query within the timeout. */
export function databaseIsUp(sql: Sql, timeoutMs = 1000): Promise<boolean> {
  return within(
    sql`select 1`.then(() => true),
    timeoutMs,
    false,
  )
}

import type { PgDatabase } from 'drizzle-orm/pg-core'
import type { PostgresJsQueryResultHKT } from 'drizzle-orm/postgres-js'

/**
 * A database or transaction of any service. The generic messaging code only
 * uses the query builders, which do not depend on the service's schema, so the
 * schema parameters are left open on purpose.
 */
// biome-ignore lint/suspicious/noExplicitAny: schema-agnostic on purpose (see above)
export type Executor = PgDatabase<PostgresJsQueryResultHKT, any, any>

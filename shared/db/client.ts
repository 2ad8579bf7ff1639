// The database handle of a service: one postgres.js pool wrapped by Drizzle.
import { type AnyColumn, type SQL, sql } from 'drizzle-orm'
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js'
import postgres, { type Sql } from 'postgres'
import { within } from '../async'

export type Database<TSchema extends Record<string, unknown>> = PostgresJsDatabase<TSchema> & { $client: Sql }
export type Transaction<TSchema extends Record<string, unknown>> = Parameters<Parameters<Database<TSchema>['transaction']>[0]>[0]

export type PoolOptions = { max?: number /** Server settings for every connection of this pool. */; settings?: Record<string, string> }

export function connectDatabase<TSchema extends Record<string, unknown>>(url: string, schema: TSchema, options: PoolOptions = {}): Database<TSchema> {
  const sql = postgres(url, {
    max: options.max ?? 10,
    // Recycle idle and old sockets: dead idle sockets have been seen on Bun.
    idle_timeout: 30,
    max_lifetime: 30 * 60,
    connect_timeout: 10,
    onnotice: () => {},
    connection: options.settings ?? {},
  })
  return drizzle(preparedStatements(sql), { schema }) as Database<TSchema>
}

/**
 * Drizzle sends its queries as unnamed statements, which PostgreSQL parses and
 * plans on every execution; for the hot paths (relay, consumer, order create)
 * planning costs more than running. This makes postgres.js prepare them
 * instead (one named statement per query text and connection, reused), also
 * inside transactions.
 */
function preparedStatements<T extends Sql>(sql: T): T {
  return new Proxy(sql, {
    get(target, property, receiver) {
      if (property === 'unsafe') {
        return (query: string, params?: unknown[], options?: Record<string, unknown>) => target.unsafe(query, params as never, { ...options, prepare: true })
      }
      if (property === 'begin') {
        return (...args: unknown[]) => {
          const callback = args.at(-1) as (tx: Sql) => unknown
          return (target.begin as (...a: unknown[]) => unknown)(...args.slice(0, -1), (tx: Sql) => callback(preparedStatements(tx)))
        }
      }
      return Reflect.get(target, property, receiver)
    },
  })
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

/** Values as one array parameter in PostgreSQL's array-literal text (every element quoted). */
export function arrayParam(values: readonly string[], type: 'text' | 'uuid'): SQL {
  const literal = `{${values.map((v) => `"${v.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`).join(',')}}`
  return sql`${literal}::${sql.raw(type)}[]`
}

/**
 * `column = any($1)`: one parameter however many values, so one prepared
 * statement serves every batch size (an IN list makes a new statement, and a
 * new plan, for each length).
 */
export function isAnyOf(column: AnyColumn, values: readonly string[], type: 'text' | 'uuid' = 'text'): SQL {
  return sql`${column} = any(${arrayParam(values, type)})`
}

// The database handle of a service: one postgres.js pool wrapped by Drizzle.
//
// Drizzle sends a query as an unnamed statement, which PostgreSQL parses and
// plans on every execution, unless it is prepared: `.prepare(name)` on a query
// builder (with sql.placeholder() for its values, built once where the
// statement is fixed), or, for a statement in raw SQL, runPrepared() below,
// which prepares it through the same Drizzle session call. postgres.js then
// keeps one named statement per query text and connection. The hot paths
// (creating an order, the relay's claim and marks, the consumers' inbox and
// handlers) are prepared; the rest runs unprepared.
import { type AnyColumn, type SQL, sql } from 'drizzle-orm'
import type { PgDatabase } from 'drizzle-orm/pg-core'
import { PgDialect } from 'drizzle-orm/pg-core'
import type { PostgresJsQueryResultHKT } from 'drizzle-orm/postgres-js'
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

/**
 * A database or transaction of any service. The generic messaging code only
 * uses the query builders, which do not depend on the service's schema, so the
 * schema parameters are left open on purpose.
 */
// biome-ignore lint/suspicious/noExplicitAny: schema-agnostic on purpose (see above)
export type Executor = PgDatabase<PostgresJsQueryResultHKT, any, any>

/** Values as one array parameter in PostgreSQL's array-literal text (every element quoted). */
export function arrayParam(values: readonly string[], type: 'text' | 'uuid'): SQL {
  return sql`${arrayLiteral(values)}::${sql.raw(type)}[]`
}

/** PostgreSQL's array-literal text of the values, every element quoted: the value of an array placeholder (`${sql.placeholder('ids')}::text[]`). */
export function arrayLiteral(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`).join(',')}}`
}

/**
 * `column = any($1)`: one parameter however many values, so one prepared
 * statement serves every batch size (an IN list makes a new statement, and a
 * new plan, for each length).
 */
export function isAnyOf(column: AnyColumn, values: readonly string[], type: 'text' | 'uuid' = 'text'): SQL {
  return sql`${column} = any(${arrayParam(values, type)})`
}

const dialect = new PgDialect()

/**
 * Runs a raw SQL statement prepared, as Drizzle runs a query builder's
 * `.prepare(name)`: through the executor's session (a transaction's own when
 * given one), with `values` for its sql.placeholder()s.
 */
export function runPrepared<T>(executor: Executor, name: string, query: SQL, values?: Record<string, unknown>): Promise<T[]> {
  return executor._.session.prepareQuery(dialect.sqlToQuery(query), undefined, name, false).execute(values) as Promise<T[]>
}

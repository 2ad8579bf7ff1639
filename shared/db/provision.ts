// Gives each service a PostgreSQL role of its own that can reach only its own
// database: the role (LOGIN, no other power) owns the database and every
// object in it, and PUBLIC may not connect to it. Run with an administrator's
// connection (the embedded server's superuser, or whoever may create roles on
// another server) by the launcher, the compose file's `provision` step and the
// tests; the services themselves never see the administrator's password.
//
// The service's URL is the single source of truth: its user name, password and
// database are what gets created, so an operator who sets ORDERS_DATABASE_URL
// has said everything. Safe to run at every start and when several run at once.
//
// Data folders from before this existed hold objects owned by the superuser
// who ran the migrations; they are handed over to the role here (REASSIGN
// OWNED cannot move a bootstrap superuser's objects, so each kind is altered).
import postgres, { type TransactionSql } from 'postgres'

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/

export type ServiceDatabase = { role: string; password: string; database: string }

/** The role, password and database that a service's connection URL names. */
export function serviceDatabase(url: string): ServiceDatabase {
  const parsed = new URL(url)
  const role = decodeURIComponent(parsed.username)
  const database = decodeURIComponent(parsed.pathname.slice(1))
  for (const [what, name] of [
    ['role', role],
    ['database', database],
  ] as const) {
    if (!IDENTIFIER.test(name)) throw new Error(`Unsupported ${what} name "${name}" (lower-case letters, digits and _ only)`)
  }
  return { role, password: decodeURIComponent(parsed.password), database }
}

/** The URL of another database on the server that `url` names, as the same user. */
export function onDatabase(url: string, database: string): string {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  return parsed.toString()
}

const ident = (name: string) => `"${name}"`
const literal = (text: string) => `'${text.replaceAll("'", "''")}'`
/** Errors of a role or database that another instance created a moment ago. */
const RACED = new Set(['42710', '42P04', '23505'])

async function ignoringRace(run: () => Promise<unknown>): Promise<void> {
  await run().catch((error: { code?: string }) => {
    if (!RACED.has(error.code ?? '')) throw error
  })
}

export type ProvisionOptions = {
  /**
   * Also take CONNECT on the `postgres` and `template1` databases away from
   * PUBLIC, so that the roles can log in nowhere else. Only for a server
   * Gozon runs itself (the embedded one): on a shared server that is the
   * owner's decision.
   */
  closeMaintenanceDatabases?: boolean
}

/** Creates or updates the service's role and database (see the top of this file). */
export async function provisionDatabase(adminUrl: string, serviceUrl: string, options: ProvisionOptions = {}): Promise<void> {
  const { role, password, database } = serviceDatabase(serviceUrl)
  const admin = postgres(onDatabase(adminUrl, 'postgres'), { max: 1, onnotice: () => {}, connect_timeout: 10 })
  try {
    // One provisioning at a time per server: CREATE ROLE and GRANT race badly otherwise.
    await admin`select pg_advisory_lock(hashtext('gozon.provision'))`
    const [existing] = await admin`select rolname from pg_roles where rolname = ${role}`
    if (!existing) await ignoringRace(() => admin.unsafe(`create role ${ident(role)} login`))
    await admin.unsafe(`alter role ${ident(role)} login nosuperuser nocreatedb nocreaterole noreplication nobypassrls password ${literal(password)}`)
    const [found] = await admin`select 1 from pg_database where datname = ${database}`
    if (!found) await ignoringRace(() => admin.unsafe(`create database ${ident(database)} owner ${ident(role)}`))
    await admin.unsafe(`alter database ${ident(database)} owner to ${ident(role)}`)
    await admin.unsafe(`revoke all on database ${ident(database)} from public`)
    if (options.closeMaintenanceDatabases) {
      await admin.unsafe('revoke connect, temporary on database postgres from public')
      await admin.unsafe('revoke connect, temporary on database template1 from public')
    }
    await admin`select pg_advisory_unlock(hashtext('gozon.provision'))`
  } finally {
    await admin.end({ timeout: 5 })
  }
  const inside = postgres(onDatabase(adminUrl, database), { max: 1, onnotice: () => {}, connect_timeout: 10 })
  try {
    await inside.begin((tx) => handOver(tx, role))
  } finally {
    await inside.end({ timeout: 5 })
  }
}

/** Makes `role` the owner of every schema, table, sequence, view, function and type outside the system schemas. */
async function handOver(sql: TransactionSql, role: string): Promise<void> {
  const userSchemas = `n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'`
  const schemas = await sql.unsafe<{ name: string }[]>(
    `select quote_ident(n.nspname) as name from pg_namespace n
      where ${userSchemas} and n.nspowner not in (to_regrole($1)::oid, to_regrole('pg_database_owner')::oid)`,
    [role],
  )
  for (const { name } of schemas) await sql.unsafe(`alter schema ${name} owner to ${ident(role)}`)
  // Tables first: a sequence owned by a table column follows its table and cannot be altered alone.
  const relations = async () =>
    sql.unsafe<{ name: string; kind: string }[]>(
      `select format('%I.%I', n.nspname, c.relname) as name, c.relkind as kind
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where ${userSchemas} and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S') and c.relowner <> to_regrole($1)::oid
          and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype in ('a', 'i'))
        order by c.relkind = 'S'`,
      [role],
    )
  const keyword: Record<string, string> = { r: 'table', p: 'table', f: 'foreign table', v: 'view', m: 'materialized view', S: 'sequence' }
  for (const { name, kind } of await relations()) await sql.unsafe(`alter ${keyword[kind]} ${name} owner to ${ident(role)}`)
  const routines = await sql.unsafe<{ name: string }[]>(
    `select format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) as name
       from pg_proc p join pg_namespace n on n.oid = p.pronamespace
      where ${userSchemas} and p.proowner <> to_regrole($1)::oid
        and not exists (select 1 from pg_depend d where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')`,
    [role],
  )
  for (const { name } of routines) await sql.unsafe(`alter routine ${name} owner to ${ident(role)}`)
  // Enums, domains and free-standing composite types (a table's row type follows the table).
  const types = await sql.unsafe<{ name: string }[]>(
    `select format('%I.%I', n.nspname, t.typname) as name
       from pg_type t join pg_namespace n on n.oid = t.typnamespace
      where ${userSchemas} and t.typowner <> to_regrole($1)::oid
        and (t.typtype in ('e', 'd', 'r') or (t.typtype = 'c' and (select relkind from pg_class where oid = t.typrelid) = 'c'))`,
    [role],
  )
  for (const { name } of types) await sql.unsafe(`alter type ${name} owner to ${ident(role)}`)
}

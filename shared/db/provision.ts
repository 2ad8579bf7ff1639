// Gives each service a PostgreSQL role of its own that can reach only its own
// database: the role (LOGIN, no other power) owns the database and every
// object in it, and PUBLIC may not connect to it. Run with a superuser's
// connection (the embedded server's, or another server's: since PostgreSQL 16
// a CREATEROLE administrator may not give a database to a role it created) by
// the launcher, the compose file's `provision` step and the tests; the
// services themselves never see the administrator's password.
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
/** The server's own databases: never a service's. */
const SERVER_DATABASES = new Set(['postgres', 'template0', 'template1'])

export type ServiceDatabase = { role: string; password: string; database: string }

/** A URL that cannot be provisioned as it is; the message says what to change. */
export class ProvisionError extends Error {
  override readonly name = 'ProvisionError'
}

function parsePostgresUrl(url: string): URL {
  if (!URL.canParse(url)) throw new ProvisionError('not a valid URL (postgres://role:password@host:port/database)')
  const parsed = new URL(url)
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') throw new ProvisionError(`must be a postgres:// URL, not ${parsed.protocol}//`)
  return parsed
}

function decoded(text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    throw new ProvisionError(`holds a malformed %-escape ("${text}")`)
  }
}

/** The role, password and database that a service's connection URL names. */
export function serviceDatabase(url: string): ServiceDatabase {
  const parsed = parsePostgresUrl(url)
  const role = decoded(parsed.username)
  const database = decoded(parsed.pathname.slice(1))
  for (const [what, name] of [
    ['role', role],
    ['database', database],
  ] as const) {
    if (!IDENTIFIER.test(name)) throw new ProvisionError(`unsupported ${what} name "${name}" (lower-case letters, digits and _ only)`)
  }
  if (SERVER_DATABASES.has(database))
    throw new ProvisionError(`names database ${database}, which belongs to the server: give the service a database of its own`)
  const password = decoded(parsed.password)
  if (password === '') throw new ProvisionError(`names no password for role ${role}: the service could not log in`)
  return { role, password, database }
}

const serverOf = (url: URL) => `${url.hostname.toLowerCase()}:${url.port || '5432'}`

/**
 * Checks a set of service URLs against each other and the administrator's
 * before anything is changed: each on the administrator's server, none as
 * the administrator, no role or database named twice. Throws ProvisionError
 * prefixed with the offending variable's name.
 */
export function checkServiceUrls(adminUrl: { name: string; url: string }, services: { name: string; url: string }[]): void {
  const at = (name: string, run: () => void) => {
    try {
      run()
    } catch (error) {
      if (error instanceof ProvisionError) throw new ProvisionError(`${name} ${error.message}`)
      throw error
    }
  }
  let admin: URL | undefined
  at(adminUrl.name, () => {
    admin = parsePostgresUrl(adminUrl.url)
  })
  const roles = new Map<string, string>()
  const databases = new Map<string, string>()
  for (const { name, url } of services) {
    at(name, () => {
      const { role, database } = serviceDatabase(url)
      const server = serverOf(parsePostgresUrl(url))
      if (server !== serverOf(admin!))
        throw new ProvisionError(`names server ${server}, but ${adminUrl.name} names ${serverOf(admin!)}: provision each server with its own administrator`)
      if (role === decoded(admin!.username))
        throw new ProvisionError(`names the administrator (${role}) as the service's role; give the service a role of its own`)
      if (database === decoded(admin!.pathname.slice(1)))
        throw new ProvisionError(`names database ${database}, the one ${adminUrl.name} connects to: give the service a database of its own`)
      const sharedRole = roles.get(role)
      if (sharedRole) throw new ProvisionError(`names role ${role}, as ${sharedRole} does: each service needs a role of its own`)
      const sharedDatabase = databases.get(database)
      if (sharedDatabase) throw new ProvisionError(`names database ${database}, as ${sharedDatabase} does: each service needs a database of its own`)
      roles.set(role, name)
      databases.set(database, name)
    })
  }
}

/** The URL of another database on the server that `url` names, as the same user. */
export function onDatabase(url: string, database: string): string {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  return parsed.toString()
}

/** A quoted SQL identifier (a double quote inside doubled). */
export const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`
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
    // A superuser: since PostgreSQL 16 a CREATEROLE administrator may not give a database to a role it created.
    const [me] = await admin<
      { superuser: boolean; name: string }[]
    >`select rolsuper as superuser, current_user as name from pg_roles where rolname = current_user`
    if (!me?.superuser)
      throw new ProvisionError(`the administrator ${me?.name ?? ''} is not a superuser: provisioning gives each service's role its database, which needs one`)
    const [existing] = await admin<{ powerful: boolean; me: boolean }[]>`
      select rolsuper or rolcreatedb or rolcreaterole or rolreplication or rolbypassrls
             or exists (select 1 from pg_auth_members m join pg_roles g on g.oid = m.roleid
                         where m.member = r.oid and (g.rolsuper or g.rolname in ('pg_execute_server_program', 'pg_read_server_files', 'pg_write_server_files')))
               as powerful,
             rolname = current_user as me
        from pg_roles r where rolname = ${role}`
    // Never take an administrator's powers away: a service URL naming one is a mistake, not a request.
    if (existing?.me || existing?.powerful) {
      throw new ProvisionError(`role ${role} is an administrator (superuser, or may create databases or roles); give the service a role of its own`)
    }
    if (!existing) await ignoringRace(() => admin.unsafe(`create role ${quoteIdent(role)} login`))
    const [owner] = await admin<{ owner: string; superuser: boolean }[]>`
      select r.rolname as owner, r.rolsuper as superuser from pg_database d join pg_roles r on r.oid = d.datdba where d.datname = ${database}`
    // A database some other service's role owns is that service's: never take it (one made by a superuser, before roles, is handed over).
    if (owner && owner.owner !== role && !owner.superuser) {
      throw new ProvisionError(`database ${database} belongs to role ${owner.owner}, not ${role}: each service needs a database of its own`)
    }
    // Quoted by the server (format's %L), whatever its string settings.
    const [alter] = await admin<{ statement: string }[]>`
      select format('alter role %I login nosuperuser nocreatedb nocreaterole noreplication nobypassrls password %L', ${role}::text, ${password}::text) as statement`
    await admin.unsafe(alter!.statement)
    const [found] = await admin`select 1 from pg_database where datname = ${database}`
    if (!found) await ignoringRace(() => admin.unsafe(`create database ${quoteIdent(database)} owner ${quoteIdent(role)}`))
    await admin.unsafe(`alter database ${quoteIdent(database)} owner to ${quoteIdent(role)}`)
    await admin.unsafe(`revoke all on database ${quoteIdent(database)} from public`)
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
    await inside.begin(async (tx) => {
      // One hand-over at a time: concurrent ownership changes of one object fail ("tuple concurrently updated").
      await tx`select pg_advisory_xact_lock(hashtext('gozon.provision.hand-over'))`
      await handOver(tx, role)
    })
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
  for (const { name } of schemas) await sql.unsafe(`alter schema ${name} owner to ${quoteIdent(role)}`)
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
  for (const { name, kind } of await relations()) await sql.unsafe(`alter ${keyword[kind]} ${name} owner to ${quoteIdent(role)}`)
  const routines = await sql.unsafe<{ name: string }[]>(
    `select format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) as name
       from pg_proc p join pg_namespace n on n.oid = p.pronamespace
      where ${userSchemas} and p.proowner <> to_regrole($1)::oid
        and not exists (select 1 from pg_depend d where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')`,
    [role],
  )
  for (const { name } of routines) await sql.unsafe(`alter routine ${name} owner to ${quoteIdent(role)}`)
  // Enums, domains and free-standing composite types (a table's row type follows the table).
  const types = await sql.unsafe<{ name: string }[]>(
    `select format('%I.%I', n.nspname, t.typname) as name
       from pg_type t join pg_namespace n on n.oid = t.typnamespace
      where ${userSchemas} and t.typowner <> to_regrole($1)::oid
        and (t.typtype in ('e', 'd', 'r') or (t.typtype = 'c' and (select relkind from pg_class where oid = t.typrelid) = 'c'))`,
    [role],
  )
  for (const { name } of types) await sql.unsafe(`alter type ${name} owner to ${quoteIdent(role)}`)
}

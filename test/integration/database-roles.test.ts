// Each service's PostgreSQL role reaches its own database and nothing else;
// the superuser only creates the roles (shared/db/provision.ts). Real
// PostgreSQL, the committed migrations.
import { afterAll, expect, test } from 'bun:test'
import { join } from 'node:path'
import postgres from 'postgres'
import { migrateDatabase } from '../../shared/db/migrate'
import { onDatabase, provisionDatabase } from '../../shared/db/provision'
import { freshDatabaseUrl, freshServiceDatabase, sqlClient } from '../support/infra'

const migrations = (service: string) => join(import.meta.dir, '..', '..', 'drizzle', service)
const clients: postgres.Sql[] = []
afterAll(() => Promise.all(clients.map((c) => c.end({ timeout: 5 }))))

function client(url: string) {
  const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 5 })
  clients.push(sql)
  return sql
}

/** The SQLSTATE a statement fails with (undefined when it succeeds). */
async function failure(run: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await run()
    return undefined
  } catch (error) {
    return (error as { code?: string }).code
  }
}

/** Objects outside the system schemas that `role` does not own, as "kind name". */
async function notOwnedBy(adminUrl: string, role: string): Promise<string[]> {
  const sql = sqlClient(adminUrl)
  try {
    const rows = await sql<{ what: string }[]>`
      select 'schema ' || nspname as what from pg_namespace
       where nspname not in ('pg_catalog', 'information_schema') and nspname not like 'pg\\_%'
         and nspowner not in (to_regrole(${role})::oid, to_regrole('pg_database_owner')::oid)
      union all
      select 'relation ' || n.nspname || '.' || c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%' and c.relowner <> to_regrole(${role})::oid
      union all
      select 'routine ' || n.nspname || '.' || p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace
       where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%' and p.proowner <> to_regrole(${role})::oid
      union all
      select 'database ' || datname from pg_database where datname = current_database() and datdba <> to_regrole(${role})::oid`
    return rows.map((r) => r.what)
  } finally {
    await sql.end({ timeout: 5 })
  }
}

test('a service role migrates and uses its own database, and cannot log in to another one or to postgres', async () => {
  const orders = await freshServiceDatabase('roles_orders')
  const payments = await freshServiceDatabase('roles_payments')
  await migrateDatabase(orders.url, migrations('orders'))
  await migrateDatabase(payments.url, migrations('payments'))
  const ordersRole = new URL(orders.url).username

  const own = client(orders.url)
  expect((await own`select count(*)::int as n from orders`)[0]!.n).toBe(0)
  const [powers] = await own`select rolsuper, rolcreatedb, rolcreaterole from pg_roles where rolname = current_user`
  expect(powers).toEqual({ rolsuper: false, rolcreatedb: false, rolcreaterole: false })
  expect(await notOwnedBy(orders.adminUrl, ordersRole)).toEqual([])

  // 42501: permission denied for database.
  expect(await failure(() => client(onDatabase(orders.url, new URL(payments.url).pathname.slice(1)))`select 1`)).toBe('42501')
  expect(await failure(() => client(onDatabase(orders.url, 'postgres'))`select 1`)).toBe('42501')
  expect(await failure(() => client(onDatabase(orders.url, 'template1'))`select 1`)).toBe('42501')
  expect(await failure(() => own.unsafe('create database gozon_by_a_service'))).toBe('42501')
  expect(await failure(() => own.unsafe('create role gozon_by_a_service'))).toBe('42501')
  // Nor with the other service's role name and this one's password.
  const borrowed = new URL(payments.url)
  borrowed.password = new URL(orders.url).password
  expect(await failure(() => client(borrowed.toString())`select 1`)).toBe('28P01')
}, 30_000)

test('provisioning again is harmless and sets the password the URL carries', async () => {
  const first = await freshServiceDatabase('roles_again')
  await migrateDatabase(first.url, migrations('payments'))
  await client(first.url)`insert into accounts (user_id, balance) values ('kept', 700)`
  const changed = new URL(first.url)
  changed.password = 'a new password'
  await provisionDatabase(first.adminUrl, changed.toString(), { closeMaintenanceDatabases: true })
  await provisionDatabase(first.adminUrl, changed.toString(), { closeMaintenanceDatabases: true })
  expect(await failure(() => client(first.url)`select 1`)).toBe('28P01')
  expect((await client(changed.toString())`select balance::int as b from accounts where user_id = 'kept'`)[0]!.b).toBe(700)
}, 30_000)

test('a data folder from before roles: everything the superuser made is handed to the role, data kept', async () => {
  // As `bun start` left it: database, tables, sequences, functions and drizzle's own schema owned by the superuser.
  const adminUrl = await freshDatabaseUrl('roles_legacy')
  await migrateDatabase(adminUrl, migrations('payments'))
  const legacy = sqlClient(adminUrl)
  await legacy`insert into accounts (user_id, balance) values ('alice', 500)`
  await legacy`insert into ledger_entries (user_id, kind, amount, balance_after) values ('alice', 'top_up', 500, 500)`
  await legacy.end({ timeout: 5 })
  const role = `${new URL(adminUrl).pathname.slice(1)}_svc`
  expect((await notOwnedBy(adminUrl, 'gozon')).length).toBe(0)

  const url = new URL(adminUrl)
  url.username = role
  url.password = 'service password'
  await provisionDatabase(adminUrl, url.toString(), { closeMaintenanceDatabases: true })
  expect(await notOwnedBy(adminUrl, role)).toEqual([])

  // The role runs the (already applied) migrations, reads and writes, and the sequences and functions are its own.
  await migrateDatabase(url.toString(), migrations('payments'))
  const sql = client(url.toString())
  expect((await sql`select balance::int as b from accounts where user_id = 'alice'`)[0]!.b).toBe(500)
  await sql`insert into ledger_entries (user_id, kind, amount, balance_after) values ('alice', 'top_up', 1, 501)`
  expect((await sql`select count(*)::int as n from ledger_entries`)[0]!.n).toBe(2)
  expect((await sql`select count(*)::int as n from drizzle.__drizzle_migrations`)[0]!.n).toBeGreaterThan(5)
}, 30_000)

test("bun run db:provision (compose's provision step) creates what the URLs name, and says what is missing", async () => {
  const adminUrl = await freshDatabaseUrl('roles_cli')
  const url = new URL(adminUrl)
  url.username = `${url.pathname.slice(1)}_cli`
  url.password = 'cli password'
  const run = (env: Record<string, string>) =>
    Bun.spawnSync(['bun', join(import.meta.dir, '..', '..', 'shared', 'db', 'provision-main.ts'), '--own-server'], {
      env: { PATH: process.env.PATH!, ...env },
    })
  const done = run({ DATABASE_ADMIN_URL: onDatabase(adminUrl, 'postgres'), PAYMENTS_DATABASE_URL: url.toString() })
  expect(done.stdout.toString()).toContain(`PAYMENTS_DATABASE_URL: role ${url.username} owns database ${url.pathname.slice(1)}`)
  expect(done.exitCode).toBe(0)
  expect((await client(url.toString())`select current_user as u`)[0]!.u).toBe(url.username)
  const usage = run({ DATABASE_ADMIN_URL: adminUrl })
  expect(usage.exitCode).toBe(2)
  expect(usage.stderr.toString()).toContain('usage: DATABASE_ADMIN_URL=')
  const refused = run({ DATABASE_ADMIN_URL: onDatabase(url.toString(), 'postgres'), ORDERS_DATABASE_URL: url.toString() })
  expect(refused.exitCode).toBe(1)
  expect(refused.stderr.toString()).toStartWith('provisioning failed: ')
}, 30_000)

test('bun run db:provision refuses, before changing anything, URLs that could not work or would take what is not theirs', async () => {
  const adminUrl = await freshDatabaseUrl('roles_refusals')
  const admin = new URL(onDatabase(adminUrl, 'postgres'))
  const name = new URL(adminUrl).pathname.slice(1)
  const service = (role: string, database: string, password = 'pw', host = `${admin.hostname}:${admin.port}`) =>
    `postgres://${role}:${password}@${host}/${database}`
  const run = (env: Record<string, string>, flags = ['--own-server']) =>
    Bun.spawnSync(['bun', join(import.meta.dir, '..', '..', 'shared', 'db', 'provision-main.ts'), ...flags], {
      env: { PATH: process.env.PATH!, DATABASE_ADMIN_URL: admin.toString(), ...env },
    })
  const refusal = (env: Record<string, string>, flags?: string[]) => {
    const result = run(env, flags)
    return { exitCode: result.exitCode, stderr: result.stderr.toString().trim() }
  }
  expect(refusal({ ORDERS_DATABASE_URL: 'not a url' })).toEqual({
    exitCode: 1,
    stderr: 'provisioning failed: ORDERS_DATABASE_URL not a valid URL (postgres://role:password@host:port/database)',
  })
  expect(refusal({ ORDERS_DATABASE_URL: `postgres://${name}_a@${admin.host}/${name}_a` }).stderr).toBe(
    `provisioning failed: ORDERS_DATABASE_URL names no password for role ${name}_a: the service could not log in`,
  )
  expect(refusal({ ORDERS_DATABASE_URL: service(`${name}_a`, `${name}_a`, 'pw', '10.255.255.1:5999') }).stderr).toStartWith(
    'provisioning failed: ORDERS_DATABASE_URL names server 10.255.255.1:5999, but DATABASE_ADMIN_URL names',
  )
  expect(refusal({ ORDERS_DATABASE_URL: service('gozon', `${name}_a`) }).stderr).toBe(
    "provisioning failed: ORDERS_DATABASE_URL names the administrator (gozon) as the service's role; give the service a role of its own",
  )
  expect(refusal({ ORDERS_DATABASE_URL: service(`${name}_a`, `${name}_a`), PAYMENTS_DATABASE_URL: service(`${name}_a`, `${name}_b`) }).stderr).toBe(
    `provisioning failed: PAYMENTS_DATABASE_URL names role ${name}_a, as ORDERS_DATABASE_URL does: each service needs a role of its own`,
  )
  expect(refusal({ ORDERS_DATABASE_URL: service(`${name}_a`, `${name}_a`), PAYMENTS_DATABASE_URL: service(`${name}_b`, `${name}_a`) }).stderr).toBe(
    `provisioning failed: PAYMENTS_DATABASE_URL names database ${name}_a, as ORDERS_DATABASE_URL does: each service needs a database of its own`,
  )
  expect(refusal({ ORDERS_DATABASE_URL: service(`${name}_a`, `${name}_a`) }, ['--own-servr']).exitCode).toBe(2)
  for (const serverDatabase of ['postgres', 'template1', 'template0']) {
    expect(refusal({ ORDERS_DATABASE_URL: service(`${name}_a`, serverDatabase) }).stderr).toBe(
      `provisioning failed: ORDERS_DATABASE_URL names database ${serverDatabase}, which belongs to the server: give the service a database of its own`,
    )
  }
  const adminOnItsDatabase = new URL(admin)
  adminOnItsDatabase.pathname = `/${name}`
  expect(refusal({ DATABASE_ADMIN_URL: adminOnItsDatabase.toString(), ORDERS_DATABASE_URL: service(`${name}_a`, name) }).stderr).toBe(
    `provisioning failed: ORDERS_DATABASE_URL names database ${name}, the one DATABASE_ADMIN_URL connects to: give the service a database of its own`,
  )
  // None of that created anything.
  const sql = client(admin.toString())
  expect((await sql`select count(*)::int as n from pg_roles where rolname like ${`${name}%`}`)[0]!.n).toBe(0)

  // Another administrator named as a service's role keeps its powers; a database of another service's role stays its own.
  await sql.unsafe(`create role ${name}_admin login createdb createrole password 'adminpw'`)
  const other = service(`${name}_admin`, `${name}_c`, 'adminpw')
  expect(refusal({ DATABASE_ADMIN_URL: admin.toString(), ORDERS_DATABASE_URL: other }).stderr).toBe(
    `provisioning failed: ORDERS_DATABASE_URL: role ${name}_admin is an administrator (superuser, or may create databases or roles); give the service a role of its own`,
  )
  expect((await sql`select rolcreatedb, rolcreaterole from pg_roles where rolname = ${`${name}_admin`}`)[0]).toEqual({ rolcreatedb: true, rolcreaterole: true })
  // A role that may run programs on the server is an administrator too.
  await sql.unsafe(`create role ${name}_prog login password 'progpw' in role pg_execute_server_program`)
  expect(refusal({ ORDERS_DATABASE_URL: service(`${name}_prog`, `${name}_p`, 'progpw') }).stderr).toStartWith(
    `provisioning failed: ORDERS_DATABASE_URL: role ${name}_prog is an administrator`,
  )
  // An administrator that is no superuser cannot give a role its database (PostgreSQL 16+): said at once.
  await sql.unsafe(`grant connect on database postgres to ${name}_admin`) // other tests here closed it to PUBLIC
  const notSuper = new URL(admin)
  notSuper.username = `${name}_admin`
  notSuper.password = 'adminpw'
  expect(refusal({ DATABASE_ADMIN_URL: notSuper.toString(), ORDERS_DATABASE_URL: service(`${name}_f`, `${name}_f`) }).stderr).toBe(
    `provisioning failed: ORDERS_DATABASE_URL: the administrator ${name}_admin is not a superuser: provisioning gives each service's role its database, which needs one`,
  )
  expect(run({ ORDERS_DATABASE_URL: service(`${name}_d`, `${name}_d`) }).exitCode).toBe(0)
  expect(refusal({ PAYMENTS_DATABASE_URL: service(`${name}_e`, `${name}_d`) }).stderr).toBe(
    `provisioning failed: PAYMENTS_DATABASE_URL: database ${name}_d belongs to role ${name}_d, not ${name}_e: each service needs a database of its own`,
  )
  expect((await sql`select pg_get_userbyid(datdba) as owner from pg_database where datname = ${`${name}_d`}`)[0]!.owner).toBe(`${name}_d`)
}, 60_000)

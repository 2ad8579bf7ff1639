// Restores a backup (launcher/backup/take.ts) into a server whose Gozon is
// stopped. First every check, before anything changes: this checkout's
// migrations begin with the backup's (same files, same order), every file has
// the rows and SHA-256 its manifest says, nothing is connected to the target
// databases, and none holds rows unless `replace` was asked for. Then each
// database is built under a name of its own (<name>_restoring): brought to
// exactly the backup's migrations, and, in one transaction, every table
// COPied back (tables referred to by foreign keys first), its rows and hash
// checked again, the sequences set. Only when all three are in are they
// swapped in, with six renames in one transaction (old ones to
// <name>_replaced, new ones to <name>), and the old ones dropped; a failure
// or an interruption before the swap drops the new ones and leaves the old
// ones as they were.
//
// The databases are created by the administrator and handed over to the
// services' roles by the next `bun start` (or `bun run db:provision`), which
// also brings them to this checkout's newest migrations.
import { createHash } from 'node:crypto'
import { copyFileSync, createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import postgres from 'postgres'
import { migrateDatabase } from '../../shared/db/migrate'
import { onDatabase, quoteIdent } from '../../shared/db/provision'
import { DATABASES } from '../databases'
import { BackupError, checkMeter, copyMeter, type DatabaseBackup, type Manifest, type TableBackup, verifyBackup } from './format'

const root = join(import.meta.dir, '..', '..')

type Journal = { version: string; dialect: string; entries: { idx: number; when: number; tag: string; breakpoints: boolean }[] }

/** Restores every database of `manifest` (read from `folder`) on the server `adminUrl` administers. */
export async function restoreBackup(
  folder: string,
  manifest: Manifest,
  adminUrl: string,
  options: {
    replace?: boolean
    /** Asked between steps until the swap: true stops the restore there, leaving the databases as they were (Ctrl-C). */
    interrupted?: () => boolean
  } = {},
): Promise<void> {
  const stopIfAsked = () => {
    if (options.interrupted?.()) throw new BackupError('interrupted: nothing was changed')
  }
  // Everything is checked before anything is dropped: the migrations, then every file's rows and hash.
  for (const database of manifest.databases) migrationsUpTo(database)
  await verifyBackup(folder, manifest)
  const admin = postgres(onDatabase(adminUrl, 'postgres'), { max: 1, onnotice: () => {}, connect_timeout: 10 })
  const named = (database: DatabaseBackup, suffix: string) => quoteIdent(`${database.name}${suffix}`)
  try {
    for (const database of manifest.databases) await checkTarget(admin, adminUrl, database, options.replace ?? false)
    // Each database is loaded under a name of its own first; only when all three are in are the old ones replaced.
    try {
      for (const database of manifest.databases) {
        stopIfAsked()
        await admin.unsafe(`drop database if exists ${named(database, '_restoring')} with (force)`)
        await admin.unsafe(`drop database if exists ${named(database, '_replaced')} with (force)`)
        await admin.unsafe(`create database ${named(database, '_restoring')}`)
        await restoreDatabase(folder, database, onDatabase(adminUrl, `${database.name}_restoring`))
      }
      stopIfAsked()
    } catch (error) {
      for (const database of manifest.databases) await admin.unsafe(`drop database if exists ${named(database, '_restoring')} with (force)`).catch(() => {})
      throw error
    }
    // The swap: six renames in one transaction, so that all three databases change at once or none does.
    const [present] = await admin<{ names: string[] }[]>`select array_agg(datname::text) as names from pg_database`
    await admin
      .begin(async (tx) => {
        for (const database of manifest.databases) {
          if (present?.names.includes(database.name)) await tx.unsafe(`alter database ${named(database, '')} rename to ${named(database, '_replaced')}`)
          await tx.unsafe(`alter database ${named(database, '_restoring')} rename to ${named(database, '')}`)
        }
      })
      .catch(async (error: unknown) => {
        // Rolled back (say, something connected to an old database meanwhile): the old ones stay, the new ones go.
        for (const database of manifest.databases) await admin.unsafe(`drop database if exists ${named(database, '_restoring')} with (force)`).catch(() => {})
        throw error
      })
    for (const database of manifest.databases) await admin.unsafe(`drop database if exists ${named(database, '_replaced')} with (force)`)
  } finally {
    await admin.end({ timeout: 5 })
  }
}

/** Refuses a database in use, or one holding rows unless `replace`. */
async function checkTarget(admin: postgres.Sql, adminUrl: string, database: DatabaseBackup, replace: boolean): Promise<void> {
  const [exists] = await admin`select 1 from pg_database where datname = ${database.name}`
  if (!exists) return
  const connected = await admin<{ who: string }[]>`
    select coalesce(usename, '?') || ' from ' || coalesce(host(client_addr), 'a local socket') as who
      from pg_stat_activity where datname = ${database.name} and pid <> pg_backend_pid()`
  if (connected.length > 0)
    throw new BackupError(
      `${database.name} is in use (${connected.length} connection(s): ${[...new Set(connected.map((c) => c.who))].join(', ')}): stop Gozon before restoring`,
    )
  if (replace) return
  const inside = postgres(onDatabase(adminUrl, database.name), { max: 1, onnotice: () => {}, connect_timeout: 10 })
  try {
    const tables = await inside<{ name: string }[]>`
      select format('%I.%I', schemaname, relname) as name from pg_stat_user_tables where schemaname = 'public'`
    for (const { name } of tables) {
      const [row] = await inside.unsafe(`select exists (select 1 from ${name}) as some`)
      if (row?.some) throw new BackupError(`${database.name} holds data (${name} has rows): add --replace to overwrite it with the backup`)
    }
  } finally {
    await inside.end({ timeout: 5 })
  }
}

/** This checkout's migrations up to the backup's last one; refuses a backup they do not begin with. */
function migrationsUpTo(database: DatabaseBackup): { source: string; journal: Journal } {
  const source = join(root, DATABASES[database.key].migrations)
  const journal = JSON.parse(readFileSync(join(source, 'meta', '_journal.json'), 'utf8')) as Journal
  const count = database.migrations.length
  if (count > journal.entries.length)
    throw new BackupError(
      `the ${database.key} database of this backup has ${count} migrations; this checkout has ${journal.entries.length}: restore with the Gozon that took it (or a newer one)`,
    )
  journal.entries.slice(0, count).forEach((entry, i) => {
    const applied = database.migrations[i]!
    const hash = createHash('sha256')
      .update(readFileSync(join(source, `${entry.tag}.sql`), 'utf8'))
      .digest('hex')
    if (entry.when !== applied.createdAt || hash !== applied.hash)
      throw new BackupError(`the ${database.key} database's migration ${entry.tag} differs from the one the backup was taken with: not a backup of this Gozon`)
  })
  return { source, journal: { ...journal, entries: journal.entries.slice(0, count) } }
}

/** A temporary migrations folder holding just those migrations, for drizzle's migrator. */
function migrationsFolder(database: DatabaseBackup): string {
  const { source, journal } = migrationsUpTo(database)
  const folder = mkdtempSync(join(tmpdir(), `gozon-restore-${database.key}-`))
  mkdirSync(join(folder, 'meta'))
  writeFileSync(join(folder, 'meta', '_journal.json'), JSON.stringify(journal))
  for (const entry of journal.entries) copyFileSync(join(source, `${entry.tag}.sql`), join(folder, `${entry.tag}.sql`))
  return folder
}

async function restoreDatabase(folder: string, database: DatabaseBackup, url: string): Promise<void> {
  const migrations = migrationsFolder(database)
  try {
    await migrateDatabase(url, migrations)
  } finally {
    rmSync(migrations, { recursive: true, force: true })
  }
  const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 })
  try {
    await sql.begin(async (tx) => {
      const order = await loadOrder(tx, database.tables)
      for (const table of order) await loadTable(tx, folder, table)
      for (const sequence of database.sequences)
        if (sequence.lastValue !== null) await tx`select setval(${`public.${quoteIdent(sequence.name)}`}::regclass, ${sequence.lastValue}::bigint, true)`
    })
  } finally {
    await sql.end({ timeout: 5 })
  }
}

/** The backup's tables, each after the tables its foreign keys refer to; refuses a table the migrated schema lacks. */
async function loadOrder(tx: postgres.TransactionSql, tables: TableBackup[]): Promise<TableBackup[]> {
  const present = await tx<{ name: string; columns: string[] }[]>`
    select c.relname as name, array(select a.attname::text from pg_attribute a where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped) as columns
      from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relkind in ('r', 'p')`
  for (const table of tables) {
    const found = present.find((p) => p.name === table.name)
    const missing = table.columns.filter((c) => !found?.columns.includes(c))
    if (!found || missing.length > 0)
      throw new BackupError(`table ${table.name} (${missing.join(', ') || 'all of it'}) is not in the migrated schema: the backup does not fit`)
  }
  const references = await tx<{ from: string; to: string }[]>`
    select c.relname as from, r.relname as to from pg_constraint k
      join pg_class c on c.oid = k.conrelid join pg_class r on r.oid = k.confrelid
     where k.contype = 'f' and c.relname <> r.relname`
  const ordered: TableBackup[] = []
  const visit = (table: TableBackup, path: string[]) => {
    if (ordered.includes(table)) return
    if (path.includes(table.name)) throw new BackupError(`foreign keys form a cycle (${[...path, table.name].join(' → ')})`)
    for (const ref of references.filter((r) => r.from === table.name)) {
      const target = tables.find((t) => t.name === ref.to)
      if (target) visit(target, [...path, table.name])
    }
    ordered.push(table)
  }
  for (const table of tables) visit(table, [])
  return ordered
}

async function loadTable(tx: postgres.TransactionSql, folder: string, table: TableBackup): Promise<void> {
  const meter = copyMeter()
  const columns = table.columns.map(quoteIdent).join(', ')
  const target = await tx.unsafe(`copy public.${quoteIdent(table.name)} (${columns}) from stdin`).writable()
  await pipeline(createReadStream(join(folder, table.file)), createGunzip(), meter.stream, target)
  checkMeter(meter, join(folder, table.file), table)
}

// Takes a backup of Gozon's three databases while the system runs.
//
// Each database is read in one REPEATABLE READ, READ ONLY transaction: every
// table of it as of one instant (its snapshot), as pg_dump does, with COPY …
// TO STDOUT; nothing is locked against the services' writes. The three
// snapshots are taken one right after the other, before any data is read, in
// this order: orders, then payments, then identity. They are still three
// instants: an order paid between the first two is in the payments backup and
// not in the orders one (README, Backups, says what reconcile then reports
// and how to settle it). Payments after orders means every money movement the
// restored orders know of is in the restored ledger; identity last means every
// user the other two mention exists.
import { createWriteStream, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import postgres, { type ReservedSql } from 'postgres'
import { quoteIdent } from '../../shared/db/provision'
import { DATABASE_KEYS, DATABASES, type DatabaseKey } from '../databases'
import { BACKUP_FORMAT, BackupError, copyMeter, type DatabaseBackup, type Manifest, type TableBackup } from './format'

export type BackupOptions = {
  /** The data folder's secrets file (`bun start`'s generated keys and passwords), copied when it exists. */
  secretsFile?: string
  /**
   * Called after each database's snapshot is taken, before the next one. For
   * the tests, which widen the gap between two snapshots to show what a
   * restore then meets.
   */
  afterSnapshot?: (key: DatabaseKey) => Promise<void>
}

type Snapshot = { key: DatabaseKey; sql: postgres.Sql; reserved: ReservedSql; snapshotAt: Date }

/** Writes a backup of the databases at `urls` into `folder` (which must not exist yet). */
export async function takeBackup(urls: Record<DatabaseKey, string>, folder: string, options: BackupOptions = {}): Promise<Manifest> {
  if (existsSync(folder)) throw new BackupError(`${folder} exists already: a backup goes into a folder of its own`)
  const partial = `${folder}.partial`
  rmSync(partial, { recursive: true, force: true })
  mkdirSync(partial, { recursive: true, mode: 0o700 })
  const snapshots: Snapshot[] = []
  try {
    for (const key of DATABASE_KEYS) {
      // Should this process hang or die, the server ends the snapshot's transaction itself (a long-open snapshot holds back vacuum).
      const sql = postgres(urls[key], {
        max: 1,
        onnotice: () => {},
        connect_timeout: 10,
        idle_timeout: 0,
        connection: { idle_in_transaction_session_timeout: 60_000 },
      })
      const reserved = await sql.reserve().catch(async (error: unknown) => {
        await sql.end({ timeout: 1 })
        throw error
      })
      snapshots.push({ key, sql, reserved, snapshotAt: new Date(0) })
      await reserved`begin isolation level repeatable read read only`
      // The first statement fixes the transaction's snapshot.
      const [row] = await reserved<{ now: Date }[]>`select clock_timestamp() as now`
      snapshots[snapshots.length - 1]!.snapshotAt = row!.now
      await options.afterSnapshot?.(key)
    }
    const [server] = await snapshots[0]!.reserved<{ version: string }[]>`select current_setting('server_version') as version`
    // Each snapshot is let go as soon as its database is read.
    const databases = await Promise.all(
      snapshots.map(async (s) => {
        const database = await dumpDatabase(s, partial)
        await s.reserved`commit`
        return database
      }),
    )
    let secrets: string | null = null
    if (options.secretsFile && existsSync(options.secretsFile)) {
      writeFileSync(join(partial, 'secrets.json'), await Bun.file(options.secretsFile).text(), { mode: 0o600 })
      secrets = 'secrets.json'
    }
    const manifest: Manifest = { format: BACKUP_FORMAT, takenAt: new Date().toISOString(), server: server!.version, databases, secrets }
    writeFileSync(join(partial, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 })
    renameSync(partial, folder)
    return manifest
  } catch (error) {
    rmSync(partial, { recursive: true, force: true })
    throw error
  } finally {
    for (const s of snapshots) {
      s.reserved.release()
      await s.sql.end({ timeout: 5 })
    }
  }
}

async function dumpDatabase(snapshot: Snapshot, folder: string): Promise<DatabaseBackup> {
  const { key, reserved } = snapshot
  const foreign = await reserved<{ name: string }[]>`
    select format('%I.%I', n.nspname, c.relname) as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.relkind in ('r', 'p') and n.nspname not in ('public', 'drizzle', 'pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'`
  if (foreign.length > 0)
    throw new BackupError(`${DATABASES[key].name} has tables outside its public schema (${foreign.map((f) => f.name).join(', ')}): not Gozon's layout`)
  const migrations = await reserved<{ hash: string; createdAt: string }[]>`
    select hash, created_at::text as "createdAt" from drizzle.__drizzle_migrations order by created_at, id`
  const tables = await reserved<{ name: string; columns: string[] }[]>`
    select c.relname as name,
           array(select a.attname::text from pg_attribute a
                  where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped and a.attgenerated = ''
                  order by a.attnum) as columns
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = 'public' and c.relkind in ('r', 'p')
     order by c.relname`
  const sequences = await reserved<{ name: string; lastValue: string | null }[]>`
    select sequencename as name, last_value::text as "lastValue" from pg_sequences where schemaname = 'public' order by sequencename`
  const written: TableBackup[] = []
  for (const table of tables) written.push(await dumpTable(reserved, key, table, folder))
  return {
    key,
    name: DATABASES[key].name,
    snapshotAt: snapshot.snapshotAt.toISOString(),
    migrations: migrations.map((m) => ({ hash: m.hash, createdAt: Number(m.createdAt) })),
    tables: written,
    sequences: sequences.map((s) => ({ name: s.name, lastValue: s.lastValue })),
  }
}

async function dumpTable(reserved: ReservedSql, key: DatabaseKey, table: { name: string; columns: string[] }, folder: string): Promise<TableBackup> {
  const file = join(key, `${table.name}.copy.gz`)
  mkdirSync(dirname(join(folder, file)), { recursive: true, mode: 0o700 })
  const meter = copyMeter()
  const columns = table.columns.map(quoteIdent).join(', ')
  const source = await reserved.unsafe(`copy public.${quoteIdent(table.name)} (${columns}) to stdout`).readable()
  const compressed = createGzip()
  const written = pipeline(compressed, createWriteStream(join(folder, file), { mode: 0o600 }))
  // Read in flowing mode and never paused: postgres.js can leave its socket paused for good when a COPY's
  // reader applies back-pressure as the copy ends (porsager/postgres#499; a backup of a few thousand rows
  // hung). gzip buffers what the file has not taken yet.
  await new Promise<void>((resolve, reject) => {
    source.on('data', (chunk: Buffer) => {
      meter.update(chunk)
      compressed.write(chunk)
    })
    source.once('end', () => resolve())
    source.once('error', reject)
  })
  compressed.end()
  await written
  return { name: table.name, columns: table.columns, rows: meter.rows(), sha256: meter.sha256(), file }
}

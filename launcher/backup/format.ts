// What a backup folder holds, written by launcher/backup/take.ts and read by
// launcher/backup/restore.ts:
//
//   manifest.json              this file's Manifest: when, from which server,
//                              and per database its migrations, tables and
//                              sequences, each table with its row count and
//                              the SHA-256 of its data
//   <database>/<table>.copy.gz a table's rows in COPY's text format, gzipped
//   secrets.json               the data folder's keys and passwords, when the
//                              system ran on `bun start`'s generated ones
//
// A backup being written is `<folder>.partial`; it gets its name only once
// everything in it is on disk, so a folder without that suffix is whole.
import { createHash } from 'node:crypto'
import { createReadStream, existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Transform, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import { DATABASE_KEYS, type DatabaseKey } from '../databases'

export const BACKUP_FORMAT = 'gozon-backup/1'

export type TableBackup = {
  name: string
  /** The columns copied, in order (generated columns are left out: they are computed again). */
  columns: string[]
  rows: number
  /** SHA-256 (hex) of the table's COPY text, before compression. */
  sha256: string
  /** Relative to the backup folder. */
  file: string
}

export type DatabaseBackup = {
  key: DatabaseKey
  /** The database's name on the server it was read from. */
  name: string
  /** The server's clock when this database's snapshot was taken. */
  snapshotAt: string
  /** drizzle's record of the migrations applied (drizzle.__drizzle_migrations), oldest first. */
  migrations: { hash: string; createdAt: number }[]
  tables: TableBackup[]
  /** Sequences (identity columns) and the value each had reached; null: never used. */
  sequences: { name: string; lastValue: string | null }[]
}

export type Manifest = {
  format: typeof BACKUP_FORMAT
  takenAt: string
  /** The PostgreSQL server's version (server_version). */
  server: string
  /** Databases in the order their snapshots were taken: orders, then payments, then identity (README, Backups). */
  databases: DatabaseBackup[]
  /** "secrets.json" when the data folder's secrets are in the backup. */
  secrets: string | null
}

export class BackupError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'BackupError'
  }
}

/** Reads and checks a backup folder's manifest: a folder that is not a whole Gozon backup is refused with the reason. */
export function readManifest(folder: string): Manifest {
  if (!existsSync(folder)) throw new BackupError(`${folder} does not exist`)
  if (folder.endsWith('.partial')) throw new BackupError(`${folder} is a backup that was never finished (.partial): use another one`)
  const file = join(folder, 'manifest.json')
  if (!existsSync(file)) throw new BackupError(`${folder} has no manifest.json: it is not a Gozon backup folder`)
  let manifest: Manifest
  try {
    manifest = JSON.parse(readFileSync(file, 'utf8')) as Manifest
  } catch {
    throw new BackupError(`${file} is not JSON: the backup is damaged`)
  }
  if (manifest.format !== BACKUP_FORMAT) throw new BackupError(`${file} is of format ${String(manifest.format)}; this Gozon reads ${BACKUP_FORMAT}`)
  const keys = (manifest.databases ?? []).map((d) => d.key)
  if (keys.join() !== DATABASE_KEYS.join())
    throw new BackupError(`${file} lists databases ${keys.join(', ') || 'none'}; a backup holds ${DATABASE_KEYS.join(', ')}`)
  if (manifest.secrets && !existsSync(join(folder, manifest.secrets)))
    throw new BackupError(`${join(folder, manifest.secrets)} is missing (the manifest lists it): the backup is incomplete`)
  for (const database of manifest.databases)
    for (const table of database.tables)
      if (!existsSync(join(folder, table.file))) throw new BackupError(`${join(folder, table.file)} is missing: the backup is incomplete`)
  return manifest
}

/** Reads every table file of the backup through: each must have the rows and the SHA-256 its manifest says (before anything is restored). */
export async function verifyBackup(folder: string, manifest: Manifest): Promise<void> {
  for (const database of manifest.databases)
    for (const table of database.tables) {
      const meter = copyMeter()
      const discard = new Writable({ write: (_chunk, _encoding, done) => done() })
      try {
        await pipeline(createReadStream(join(folder, table.file)), createGunzip(), meter.stream, discard)
      } catch (error) {
        throw new BackupError(`${join(folder, table.file)} cannot be read (${error instanceof Error ? error.message : String(error)}): the backup is damaged`)
      }
      checkMeter(meter, join(folder, table.file), table)
    }
}

/** Refuses a table's data whose row count or SHA-256 is not the manifest's. */
export function checkMeter(meter: ReturnType<typeof copyMeter>, file: string, table: TableBackup): void {
  if (meter.rows() !== table.rows || meter.sha256() !== table.sha256)
    throw new BackupError(
      `${file} does not match the manifest (${meter.rows()} rows, expected ${table.rows}${meter.sha256() === table.sha256 ? '' : '; its SHA-256 differs'}): the backup is damaged`,
    )
}

/** Counts the rows of COPY text passing through (`update`, or as a stream), and hashes it (SHA-256). */
export function copyMeter(): { update(chunk: Buffer): void; stream: Transform; rows(): number; sha256(): string } {
  const hash = createHash('sha256')
  let rows = 0
  const update = (chunk: Buffer) => {
    hash.update(chunk)
    // COPY's text format ends every row with one newline (a newline inside a value is written as \n).
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) rows += 1
  }
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      update(chunk)
      done(null, chunk)
    },
  })
  let digest: string | undefined
  return { update, stream, rows: () => rows, sha256: () => (digest ??= hash.digest('hex')) }
}

/** A time for a file name: 2026-12-01T22-24-18Z (UTC, no colons). */
export const fileStamp = (at: Date = new Date()) =>
  at
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replaceAll(':', '-')

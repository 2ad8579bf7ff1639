// `bun run backup [-- --to <folder>]`: a consistent backup of Gozon's three
// databases while it runs (launcher/backup/take.ts), into <folder>, by
// default backups/gozon-<UTC time> in the checkout (GOZON_BACKUP_DIR sets the
// parent; a relative --to is taken from the checkout, where bun run starts). The databases are found as `bun start` finds them
// (launcher/databases.ts); the data folder's secrets.json goes with them.
// Exit status: 0 written, 1 not written (the reason on stderr).
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { fileStamp } from './backup/format'
import { takeBackup } from './backup/take'
import { operatorDatabaseUrls, shown } from './databases'

const root = join(import.meta.dir, '..')

function fail(message: string): never {
  console.error(`backup: ${message}`)
  process.exit(1)
}

let values: { to?: string; help?: boolean }
try {
  values = parseArgs({ options: { to: { type: 'string' }, help: { type: 'boolean' } } }).values
} catch (error) {
  fail(`${error instanceof Error ? error.message : String(error)}. Usage: bun run backup [-- --to <folder>]`)
}
if (values.help) {
  console.log('usage: bun run backup [-- --to <folder>]   (default: backups/gozon-<UTC time>; GOZON_BACKUP_DIR sets the parent folder)')
  process.exit(0)
}
const folder = resolve(values.to ?? join(process.env.GOZON_BACKUP_DIR || join(root, 'backups'), `gozon-${fileStamp()}`))
const dataDir = process.env.GOZON_DATA_DIR || join(root, '.data')
const urls = operatorDatabaseUrls(process.env)
const started = Date.now()
try {
  const manifest = await takeBackup(urls, folder, { secretsFile: join(dataDir, 'secrets.json') })
  for (const database of manifest.databases) {
    const rows = database.tables.reduce((sum, t) => sum + t.rows, 0)
    console.log(`${database.key} (${database.name}): ${database.tables.length} tables, ${rows} rows, as of ${database.snapshotAt}`)
  }
  if (manifest.secrets) console.log(`secrets: ${join(dataDir, 'secrets.json')} (keys and passwords: keep the backup as private as the data folder)`)
  console.log(`backup written to ${folder} in ${((Date.now() - started) / 1000).toFixed(1)} s; restore it with: bun run restore ${folder}`)
} catch (error) {
  const { code, syscall } = error as { code?: string; syscall?: string }
  // The file system's complaints name the folder; the server's name the databases.
  if (syscall && code && code !== 'ECONNREFUSED') fail(`cannot write ${folder} (${code}): choose another folder with -- --to <folder> or GOZON_BACKUP_DIR`)
  const where = Object.entries(urls)
    .map(([key, url]) => `${key} ${shown(url)}`)
    .join(', ')
  const hint = code === 'ECONNREFUSED' ? ': is Gozon running? A backup is taken while it runs' : ''
  fail(`${error instanceof Error ? error.message : String(error)}${hint} (databases: ${where})`)
}
process.exit(0)

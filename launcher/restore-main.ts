// `bun run restore <folder> [--replace]`: puts a backup (bun run backup) back
// into a stopped Gozon (launcher/backup/restore.ts).
//
// The target is the server DATABASE_URL names (as its administrator), else
// the embedded PostgreSQL of the data folder (GOZON_DATA_DIR, default .data),
// created when the folder is new. A database that holds rows is overwritten
// only with --replace. The broker's state belongs to the state being replaced
// (its streams hold messages the restored outboxes will send again, and its
// consumers' positions): the embedded NATS store is removed, and on the
// server NATS_URL names Gozon's streams are deleted; the services declare
// them again at start and the outboxes and the stuck-order sweeper send what
// is still due. The backup's secrets.json becomes the data folder's (the one
// there is kept as secrets.json.before-restore-<time>).
// Exit status: 0 restored, 1 not restored (the reason on stderr).
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { DEFAULTS } from '../shared/config'
import { STREAMS } from '../shared/messaging/contracts'
import { BackupError, readManifest } from './backup/format'
import { restoreBackup } from './backup/restore'
import { serverUrl, shown } from './databases'
import { portIsOpen } from './free-port'
import { type RunningPostgres, startPostgres } from './postgres'

const root = join(import.meta.dir, '..')
const USAGE = 'usage: bun run restore <backup folder> [--replace]'

function fail(message: string): never {
  console.error(`restore: ${message}`)
  process.exit(1)
}

let parsed: { values: { replace?: boolean; help?: boolean }; positionals: string[] }
try {
  parsed = parseArgs({ options: { replace: { type: 'boolean' }, help: { type: 'boolean' } }, allowPositionals: true })
} catch (error) {
  fail(`${error instanceof Error ? error.message : String(error)}. ${USAGE}`)
}
if (parsed.values.help) {
  console.log(USAGE)
  process.exit(0)
}
if (parsed.positionals.length !== 1) fail(`name one backup folder. ${USAGE}`)
const folder = resolve(parsed.positionals[0]!)
const env = process.env
const dataDir = resolve(env.GOZON_DATA_DIR || join(root, '.data'))
const onServer = Boolean(env.DATABASE_URL)
if (!onServer && ['ORDERS_DATABASE_URL', 'PAYMENTS_DATABASE_URL', 'GATEWAY_DATABASE_URL'].some((name) => env[name]))
  fail('restore needs the server as its administrator: set DATABASE_URL (the services’ own *_DATABASE_URL are not enough)')

/** The pid in the embedded server's postmaster.pid, when that process is alive. */
function runningPostgres(pgData: string): number | undefined {
  const file = join(pgData, 'postmaster.pid')
  if (!existsSync(file)) return undefined
  const pid = Number(readFileSync(file, 'utf8').split('\n')[0])
  try {
    process.kill(pid, 0)
    return pid
  } catch {
    return undefined
  }
}

let postgres: RunningPostgres | undefined
try {
  const manifest = readManifest(folder)
  let adminUrl: string
  if (onServer) adminUrl = serverUrl(env)
  else {
    const pgData = join(dataDir, 'postgres')
    const pid = runningPostgres(pgData)
    if (pid) fail(`Gozon is running on ${dataDir} (its PostgreSQL, pid ${pid}): stop it first (Ctrl-C, or systemctl stop gozon)`)
    const port = Number(env.EMBEDDED_POSTGRES_PORT || DEFAULTS.embeddedPostgresPort)
    if (await portIsOpen(port)) fail(`port ${port} is taken (a PostgreSQL, perhaps Gozon's on another data folder): stop it, or set EMBEDDED_POSTGRES_PORT`)
    postgres = await startPostgres({ dataDir: pgData, port, user: DEFAULTS.postgresUser, password: DEFAULTS.postgresPassword })
    adminUrl = postgres.url('postgres')
  }
  await restoreBackup(folder, manifest, adminUrl, { replace: parsed.values.replace })
  for (const database of manifest.databases) {
    const rows = database.tables.reduce((sum, t) => sum + t.rows, 0)
    console.log(`${database.key} (${database.name}): ${rows} rows restored, as of ${database.snapshotAt}`)
  }

  if (env.NATS_URL) {
    const nc = await connect({ servers: env.NATS_URL.split(',').map((s) => s.trim()), timeout: 10_000 })
    const jsm = await jetstreamManager(nc)
    for (const stream of Object.values(STREAMS)) await jsm.streams.delete(stream.name).catch(() => false)
    await nc.close()
    console.log(
      `NATS (${env.NATS_URL}): streams ${Object.values(STREAMS)
        .map((s) => s.name)
        .join(', ')} deleted; the services declare them again at start`,
    )
  } else {
    for (const store of ['nats', 'nats-cluster']) rmSync(join(dataDir, store), { recursive: true, force: true })
    console.log(`NATS: the embedded store in ${dataDir} removed; the services declare their streams again at start`)
  }

  if (manifest.secrets) {
    const target = join(dataDir, 'secrets.json')
    const text = readFileSync(join(folder, manifest.secrets), 'utf8')
    if (existsSync(target) && readFileSync(target, 'utf8') !== text) renameSync(target, `${target}.before-restore-${Date.now()}`)
    writeFileSync(target, text, { mode: 0o600 })
    console.log(`secrets: ${target} is the backup's (sessions, tokens and keys as they were)`)
  }
  console.log(
    `restored ${folder} into ${onServer ? shown(adminUrl) : dataDir}. Next: bun start, then bun run reconcile (README, Backups and restore: what it reports after a restore)`,
  )
} catch (error) {
  await postgres?.stop()
  if (error instanceof BackupError) fail(error.message)
  fail(error instanceof Error ? error.message : String(error))
}
await postgres?.stop()
process.exit(0)

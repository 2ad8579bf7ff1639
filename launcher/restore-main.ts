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
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { DEFAULTS } from '../shared/config'
import { STREAMS } from '../shared/messaging/contracts'
import { fileStamp, readManifest } from './backup/format'
import { restoreBackup } from './backup/restore'
import { serverUrl, shown } from './databases'
import { portIsOpen } from './free-port'
import { type RunningPostgres, startPostgres } from './postgres'

const root = join(import.meta.dir, '..')
const USAGE = 'usage: bun run restore <backup folder> [--replace]   (a relative folder is taken from the checkout, where bun run starts)'

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
// Ctrl-C or SIGTERM: before the swap the restore stops between steps and changes nothing; after it, it finishes.
let interrupted = false
const interrupt = (signal: string) => {
  interrupted = true
  console.error(`restore: ${signal}: stopping at the next step (nothing changes unless the databases are being swapped in already)`)
}
process.on('SIGINT', () => interrupt('SIGINT'))
process.on('SIGTERM', () => interrupt('SIGTERM'))

let nc: NatsConnection | undefined
let swapped = false
try {
  const manifest = readManifest(folder)
  // The broker named by NATS_URL must answer before anything changes: its streams go after the databases.
  if (env.NATS_URL) nc = await connect({ servers: env.NATS_URL.split(',').map((s) => s.trim()), timeout: 10_000 })
  let adminUrl: string
  if (onServer) adminUrl = serverUrl(env)
  else {
    const pgData = join(dataDir, 'postgres')
    const pid = runningPostgres(pgData)
    if (pid)
      fail(
        `a PostgreSQL (pid ${pid}) runs on ${pgData}: Gozon is running there, or a restore was cut off; stop it first (Ctrl-C, systemctl stop gozon, or kill ${pid})`,
      )
    const port = Number(env.EMBEDDED_POSTGRES_PORT || DEFAULTS.embeddedPostgresPort)
    if (await portIsOpen(port)) fail(`port ${port} is taken (a PostgreSQL, perhaps Gozon's on another data folder): stop it, or set EMBEDDED_POSTGRES_PORT`)
    // Its own process group: a Ctrl-C reaches this command only, which stops it when done.
    postgres = await startPostgres({ dataDir: pgData, port, user: DEFAULTS.postgresUser, password: DEFAULTS.postgresPassword, detached: true })
    adminUrl = postgres.url('postgres')
  }
  await restoreBackup(folder, manifest, adminUrl, { replace: parsed.values.replace, interrupted: () => interrupted })
  swapped = true
  for (const database of manifest.databases) {
    const rows = database.tables.reduce((sum, t) => sum + t.rows, 0)
    console.log(`${database.key} (${database.name}): ${rows} rows restored, as of ${database.snapshotAt}`)
  }

  if (nc) {
    const jsm = await jetstreamManager(nc)
    for (const stream of Object.values(STREAMS)) await jsm.streams.delete(stream.name).catch(() => false)
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
    if (existsSync(target) && readFileSync(target, 'utf8') !== text) {
      const kept = `${target}.before-restore-${fileStamp()}`
      renameSync(target, kept)
      console.log(`secrets: the data folder's own kept as ${kept}`)
    }
    writeFileSync(target, text, { mode: 0o600 })
    console.log(`secrets: ${target} is the backup's (sessions, tokens and keys as they were)`)
  }
  console.log(
    `restored ${folder} into ${onServer ? shown(adminUrl) : dataDir}. Next: bun start, then bun run reconcile (README, Backups and restore: what it reports after a restore)`,
  )
} catch (error) {
  await postgres?.stop()
  await nc?.close().catch(() => {})
  const message = error instanceof Error ? error.message : String(error)
  // After the swap the databases are the backup's: say so, and what is left to do.
  if (swapped) fail(`the databases were restored, but then: ${message}. Finish by hand: README, Backups and restore`)
  fail(message)
}
await postgres?.stop()
await nc?.close()
process.exit(0)

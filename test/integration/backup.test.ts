// bun run backup's format and bun run restore's checks, on real databases:
// a backup of a system that has run (orders with awkward text, the ledger's
// generated column, identity columns' sequences) restored on another
// PostgreSQL is the same, row for row; and a restore refuses, before it
// changes anything, a backup that is damaged, unfinished or from a newer
// Gozon, a database in use, and one holding data unless told to replace it.
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { chmodSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import postgres from 'postgres'
import { type Manifest, readManifest } from '../../launcher/backup/format'
import { restoreBackup } from '../../launcher/backup/restore'
import { takeBackup } from '../../launcher/backup/take'
import { DATABASE_KEYS, DATABASES, type DatabaseKey } from '../../launcher/databases'
import { freePort } from '../../launcher/free-port'
import { type RunningPostgres, startPostgres } from '../../launcher/postgres'
import { STREAMS } from '../../shared/messaging/contracts'
import { freshNats } from '../support/infra'
import { startSystem } from '../support/system'

const dir = mkdtempSync(join(tmpdir(), 'gozon-backup-test-'))
chmodSync(dir, 0o755) // PostgreSQL runs as the postgres user when we are root
const folder = join(dir, 'backup')
let target: RunningPostgres
let manifest: Manifest
let sources: Record<DatabaseKey, string>
const BULK_ROWS = 50_000
const AWKWARD = 'tab\there, new\nline, back\\slash, "quotes", \'single\', 🧾 receipt, \\N not null'

beforeAll(async () => {
  const sys = await startSystem()
  await sys.openAccount('ann', 10_000)
  await sys.openAccount('bob', 150)
  const paid = await sys.createOrder('ann', 1234, AWKWARD)
  const refused = await sys.createOrder('bob', 999) // more than bob has: CANCELLED, nothing debited
  await sys.waitForFinal('ann', paid)
  await sys.waitForFinal('bob', refused)
  const signUp = await sys.api('POST', '/api/auth/users', { body: { username: 'carol_backup', password: 'correct horse battery' } })
  expect(signUp.status).toBe(201)
  sources = { orders: sys.env.ORDERS_DATABASE_URL!, payments: sys.env.PAYMENTS_DATABASE_URL!, identity: sys.env.GATEWAY_DATABASE_URL! }
  // Stopped first, so that the databases stay as backed up and can be compared with the restored ones.
  await sys.stop()
  // A table of some size: a backup of a few thousand rows once hung for good (a COPY reader's back-pressure).
  const orders = postgres(sources.orders, { max: 1, onnotice: () => {} })
  await orders`insert into idempotency_keys (user_id, key, fingerprint, status, response)
               select 'bulk', 'key-' || n, 'POST /api/orders ' || md5(n::text), 201, jsonb_build_object('n', n, 'pad', repeat('x', 200))
                 from generate_series(1, ${BULK_ROWS}) n`
  await orders.end({ timeout: 5 })
  manifest = await takeBackup(sources, folder)
  const pgDir = join(dir, 'target')
  target = await startPostgres({ dataDir: pgDir, port: await freePort(), user: 'gozon', password: 'gozon', settings: { fsync: 'off' } })
}, 60_000)

afterAll(async () => {
  await target?.stop()
  rmSync(dir, { recursive: true, force: true })
})

async function tableRows(url: string): Promise<Record<string, unknown[]>> {
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  try {
    const tables = await sql<{ name: string }[]>`select relname as name from pg_stat_user_tables where schemaname = 'public' order by relname`
    const rows: Record<string, unknown[]> = {}
    for (const { name } of tables) rows[name] = await sql.unsafe(`select * from public."${name}" order by 1, 2`)
    return rows
  } finally {
    await sql.end({ timeout: 5 })
  }
}

test('the manifest lists every table with its rows and hash, in snapshot order; the files are readable by this user only', () => {
  expect(manifest.databases.map((d) => d.key)).toEqual([...DATABASE_KEYS])
  const orders = manifest.databases[0]!.tables.find((t) => t.name === 'orders')!
  expect(orders.rows).toBe(2)
  expect(manifest.databases[0]!.tables.find((t) => t.name === 'idempotency_keys')!.rows).toBe(BULK_ROWS)
  expect(orders.sha256).toMatch(/^[0-9a-f]{64}$/)
  const ledger = manifest.databases[1]!.tables.find((t) => t.name === 'ledger_entries')!
  expect(ledger.columns).not.toContain('payment_outcome') // generated: computed again on restore
  expect(manifest.databases.map((d) => d.snapshotAt)).toEqual([...manifest.databases.map((d) => d.snapshotAt)].sort())
  expect(manifest.databases[0]!.migrations.length).toBeGreaterThan(5)
  expect(readManifest(folder).takenAt).toBe(manifest.takenAt)
  const mode = Bun.spawnSync(['stat', '-c', '%a', folder, join(folder, orders.file)])
    .stdout.toString()
    .trim()
    .split('\n')
  expect(mode).toEqual(['700', '600'])
})

test('restored on another server, every table is the same row for row, and the sequences go on past the restored ids', async () => {
  await restoreBackup(folder, manifest, target.url('postgres'))
  for (const key of DATABASE_KEYS) {
    const restored = await tableRows(target.url(DATABASES[key].name))
    expect(restored).toEqual(await tableRows(sources[key]))
  }
  const payments = postgres(target.url(DATABASES.payments.name), { max: 1, onnotice: () => {} })
  try {
    const orders = postgres(target.url(DATABASES.orders.name), { max: 1 })
    const [order] = await orders`select description from orders where amount = 1234`
    await orders.end({ timeout: 5 })
    expect(order?.description).toBe(AWKWARD)
    const [{ max }] = (await payments`select max(id)::int as max from ledger_entries`) as unknown as [{ max: number }]
    const [{ next }] = (await payments`select nextval('ledger_entries_id_seq')::int as next`) as unknown as [{ next: number }]
    expect(next).toBeGreaterThan(max)
    const migrations = await payments`select count(*)::int as n from drizzle.__drizzle_migrations`
    expect(migrations[0]?.n).toBe(manifest.databases[1]!.migrations.length)
  } finally {
    await payments.end({ timeout: 5 })
  }
}, 60_000)

test('a restore refuses, before changing anything: data without --replace, a database in use, a damaged file, a newer Gozon, an unfinished backup', async () => {
  const admin = target.url('postgres')
  const refusal = (promise: Promise<unknown>) =>
    promise.then(
      () => 'restored',
      (e: unknown) => (e instanceof Error ? e.message : String(e)),
    )
  expect(await refusal(restoreBackup(folder, manifest, admin))).toContain('holds data (public.')

  const holder = postgres(target.url(DATABASES.orders.name), { max: 1 })
  await holder`select 1`
  expect(await refusal(restoreBackup(folder, manifest, admin, { replace: true }))).toContain('is in use (1 connection(s)')
  await holder.end({ timeout: 5 })

  // One byte of one table changed (compressed again, so only the manifest's hash can tell).
  const damaged = join(dir, 'damaged')
  cpSync(folder, damaged, { recursive: true })
  const file = join(damaged, manifest.databases[0]!.tables.find((t) => t.name === 'orders')!.file)
  writeFileSync(file, Bun.gzipSync(new TextEncoder().encode(new TextDecoder().decode(Bun.gunzipSync(readFileSync(file))).replace('1234', '1235'))))
  expect(await refusal(restoreBackup(damaged, manifest, admin, { replace: true }))).toContain('its SHA-256 differs): the backup is damaged')
  writeFileSync(file, 'not gzip')
  expect(await refusal(restoreBackup(damaged, manifest, admin, { replace: true }))).toContain('cannot be read')

  const newer: Manifest = structuredClone(manifest)
  newer.databases[1]!.migrations.push({ hash: 'f'.repeat(64), createdAt: Date.now() })
  expect(await refusal(restoreBackup(folder, newer, admin, { replace: true }))).toContain('restore with the Gozon that took it')
  const other: Manifest = structuredClone(manifest)
  other.databases[0]!.migrations[2]!.hash = '0'.repeat(64)
  expect(await refusal(restoreBackup(folder, other, admin, { replace: true }))).toContain('differs from the one the backup was taken with')

  // None of these changed the restored databases.
  expect(await tableRows(target.url(DATABASES.orders.name))).toEqual(await tableRows(sources.orders))

  cpSync(folder, `${folder}2.partial`, { recursive: true })
  expect(() => readManifest(`${folder}2.partial`)).toThrow('never finished')
  expect(() => readManifest(dir)).toThrow('no manifest.json')
  expect(() => readManifest(join(dir, 'nowhere'))).toThrow('does not exist')
  const withoutSecrets = join(dir, 'without-secrets')
  cpSync(folder, withoutSecrets, { recursive: true })
  writeFileSync(join(withoutSecrets, 'manifest.json'), JSON.stringify({ ...manifest, secrets: 'secrets.json' }))
  expect(() => readManifest(withoutSecrets)).toThrow('secrets.json is missing (the manifest lists it)')
  expect(await refusal(takeBackup(sources, folder))).toContain('exists already')

  // A failure while loading (here: a column the migrated schema does not have) leaves the databases there as they were.
  const misfit: Manifest = structuredClone(manifest)
  misfit.databases[2]!.tables[0]!.columns.push('no_such_column')
  expect(await refusal(restoreBackup(folder, misfit, admin, { replace: true }))).toContain('is not in the migrated schema')
  const server = postgres(admin, { max: 1 })
  const left = await server<{ datname: string }[]>`select datname from pg_database where datname like 'gozon%' order by 1`
  await server.end({ timeout: 5 })
  expect(left.map((d) => d.datname)).toEqual([DATABASES.identity.name, DATABASES.orders.name, DATABASES.payments.name])
  expect(await tableRows(target.url(DATABASES.identity.name))).toEqual(await tableRows(sources.identity))

  // With --replace, over data, when nothing is connected: restored again.
  expect(await refusal(restoreBackup(folder, manifest, admin, { replace: true }))).toBe('restored')
  for (const key of DATABASE_KEYS) expect(await tableRows(target.url(DATABASES[key].name))).toEqual(await tableRows(sources[key]))
}, 60_000)

test('bun run restore on a server of its own (DATABASE_URL) and a broker Gozon does not run (NATS_URL): the streams there are deleted; a broker that does not answer stops it before anything changes', async () => {
  const nats = await freshNats()
  const nc = await connect({ servers: nats.url })
  const jsm = await jetstreamManager(nc)
  for (const stream of Object.values(STREAMS)) await jsm.streams.add({ name: stream.name, subjects: [...stream.subjects] })
  expect((await jsm.streams.names().next()).sort()).toEqual(
    Object.values(STREAMS)
      .map((s) => s.name)
      .sort(),
  )
  const restore = (natsUrl: string) =>
    spawnSync('bun', [join(import.meta.dir, '..', '..', 'launcher', 'restore-main.ts'), folder, '--replace'], {
      env: { ...process.env, DATABASE_URL: target.url('postgres'), NATS_URL: natsUrl, GOZON_DATA_DIR: join(dir, 'data') },
      encoding: 'utf8',
    })
  const unreachable = restore(`nats://127.0.0.1:${await freePort()}`)
  expect(unreachable.status).toBe(1)
  expect(unreachable.stderr).toStartWith('restore: ')
  expect(unreachable.stdout).not.toContain('rows restored')

  const done = restore(nats.url)
  expect(done.stderr).toBe('')
  expect(done.status).toBe(0)
  expect(done.stdout).toContain(
    `streams ${Object.values(STREAMS)
      .map((s) => s.name)
      .join(', ')} deleted`,
  )
  const left = await jsm.streams.names().next()
  expect(left).toEqual([])
  await nc.close()
  for (const key of DATABASE_KEYS) expect(await tableRows(target.url(DATABASES[key].name))).toEqual(await tableRows(sources[key]))
}, 60_000)

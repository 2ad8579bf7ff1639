// Real PostgreSQL and nats-server for the tests, started by the harness itself
// on free loopback ports with throw-away data (never the machine's own servers).
// One PostgreSQL serves the whole run (each system gets fresh databases);
// each system gets its own nats-server, so no stream state leaks between tests.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { freePort } from '../../launcher/free-port'
import { type RunningNats, startNats } from '../../launcher/nats'
import { type RunningPostgres, startPostgres } from '../../launcher/postgres'
import { provisionDatabase } from '../../shared/db/provision'

type Infra = { root: string; postgres: RunningPostgres; natsServers: Set<RunningNats> }

const state = globalThis as typeof globalThis & { __gozonInfra?: Promise<Infra> }

async function boot(): Promise<Infra> {
  const root = mkdtempSync(join(tmpdir(), 'gozon-test-'))
  // PostgreSQL runs as the postgres user when we are root: let it in.
  chmodSync(root, 0o755)
  const pg = await startPostgres({
    dataDir: join(root, 'postgres'),
    port: await freePort(),
    user: 'gozon',
    password: 'gozon',
    // Throw-away data: durability buys nothing here and costs seconds.
    settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', max_connections: '300' },
  })
  const natsServers = new Set<RunningNats>()
  // If the run dies without afterAll, take the servers down with it.
  process.once('exit', () => {
    pg.process.kill('SIGKILL')
    for (const nats of natsServers) nats.process.kill('SIGKILL')
  })
  return { root, postgres: pg, natsServers }
}

export function infra(): Promise<Infra> {
  state.__gozonInfra ??= boot()
  return state.__gozonInfra
}

let databaseCounter = 0

/** A fresh, empty database name on the test server, and its URL. */
export async function freshDatabaseUrl(label: string): Promise<string> {
  const { postgres: pg } = await infra()
  databaseCounter += 1
  return pg.url(`t${process.pid}_${databaseCounter}_${label}`)
}

/**
 * Gives the database that `adminUrl` names a role of its own that owns it and
 * can reach nothing else, as the launcher gives each service; returns the URL
 * the service connects with.
 */
export async function withOwnRole(adminUrl: string): Promise<string> {
  const url = new URL(adminUrl)
  url.username = url.pathname.slice(1)
  url.password = Buffer.from(crypto.getRandomValues(new Uint8Array(18))).toString('base64url')
  await provisionDatabase(adminUrl, url.toString(), { closeMaintenanceDatabases: true })
  return url.toString()
}

/** A fresh database with a role of its own (see withOwnRole), and the administrator's URL of it (for assertions). */
export async function freshServiceDatabase(label: string): Promise<{ url: string; adminUrl: string }> {
  const adminUrl = await freshDatabaseUrl(label)
  return { url: await withOwnRole(adminUrl), adminUrl }
}

export async function freshNats(): Promise<RunningNats> {
  const { root, natsServers } = await infra()
  const port = await freePort()
  const nats = await startNats({ storeDir: join(root, `nats-${port}`), port })
  natsServers.add(nats)
  nats.process.once('exit', () => natsServers.delete(nats))
  return nats
}

/** Runs SQL against a test database (for assertions only; services use their own pools). */
export function sqlClient(url: string) {
  return postgres(url, { max: 2, onnotice: () => {} })
}

export async function shutdownInfra(): Promise<void> {
  if (!state.__gozonInfra) return
  const { root, postgres: pg, natsServers } = await state.__gozonInfra
  state.__gozonInfra = undefined
  await Promise.all([...natsServers].map((n) => n.stop()))
  await pg.stop()
  rmSync(root, { recursive: true, force: true })
}

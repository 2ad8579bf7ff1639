// A private nats-server with JetStream for `bun start` and for the tests,
// started from the nats-server on PATH, listening on loopback only.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { waitForPort } from './free-port'

export const NATS_INSTALL_HINT =
  'nats-server was not found on PATH. Install it (Debian/Ubuntu: `apt-get install -y nats-server`) or point NATS_URL at a running server with JetStream.'

/** nats-server from PATH, or from /usr/sbin where Debian puts it (often not on a user's PATH). */
export function natsServerBinary(): string | undefined {
  const found = Bun.which('nats-server') ?? (existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : undefined)
  if (!found) return undefined
  return spawnSync(found, ['--version'], { encoding: 'utf8' }).status === 0 ? found : undefined
}

/**
 * `sync_interval: always` (nats-server 2.10 and later) makes the server fsync
 * every message before it acknowledges the publish, so an acknowledged
 * message survives a crash of the machine, not only of the process. Older
 * servers refuse the setting; they sync every two minutes.
 */
export function supportsSyncAlways(versionOutput: string): boolean {
  const match = /v?(\d+)\.(\d+)\.\d+/.exec(versionOutput)
  if (!match) return false
  const [major, minor] = [Number(match[1]), Number(match[2])]
  return major > 2 || (major === 2 && minor >= 10)
}

export type RunningNats = {
  port: number
  url: string
  process: ChildProcess
  /** True when this server fsyncs each message before acknowledging it (supportsSyncAlways). */
  syncAlways: boolean
  stop(signal?: NodeJS.Signals): Promise<void>
}

export async function startNats(options: { storeDir: string; port: number; onLog?: (line: string) => void }): Promise<RunningNats> {
  const binary = natsServerBinary()
  if (!binary) throw new Error(NATS_INSTALL_HINT)
  mkdirSync(options.storeDir, { recursive: true })
  const configFile = join(options.storeDir, 'nats-server.conf')
  const syncAlways = supportsSyncAlways(spawnSync(binary, ['--version'], { encoding: 'utf8' }).stdout ?? '')
  writeFileSync(
    configFile,
    [
      `listen: "127.0.0.1:${options.port}"`,
      'jetstream {',
      `  store_dir: ${JSON.stringify(options.storeDir)}`,
      ...(syncAlways ? ['  sync_interval: always'] : []),
      '}',
      '',
    ].join('\n'),
  )
  const child = spawn(binary, ['-c', configFile], { stdio: ['ignore', 'pipe', 'pipe'] })
  const log = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) options.onLog?.(line)
  }
  child.stdout?.on('data', log)
  child.stderr?.on('data', log)
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`nats-server exited during start (code ${code})`))))
  await Promise.race([waitForPort(options.port, 10_000), exited])
  exited.catch(() => {})

  let stopped: Promise<void> | undefined
  return {
    port: options.port,
    url: `nats://127.0.0.1:${options.port}`,
    process: child,
    syncAlways,
    stop(signal = 'SIGTERM') {
      stopped ??= new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.kill(signal)
      })
      return stopped
    },
  }
}

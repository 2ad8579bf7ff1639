// Starts `bun launcher/start.ts` as a child process in a throw-away data folder
// on free ports, waits until Gozon is up, and stops it with SIGINT (Ctrl-C).
// Used by the browser tests, the benchmark and the launcher's own test.
// Node APIs only: the browser tests run it under Node.
import { type ChildProcess, spawn } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export type LaunchState = {
  gatewayUrl: string
  /** By instance name: "orders", "payments", "gateway", or "orders-1" … with --scale N. */
  pids: Record<string, number>
  /** Each instance's own port, by instance name. */
  ports?: Record<string, number>
  /** HAProxy's pid with --scale N. */
  haproxy?: number
  postgres?: number
  /** The nats-server's pid, or the three nodes' pids with EMBEDDED_NATS_NODES=3. */
  nats?: number | number[]
}

export type SpawnedGozon = {
  state: LaunchState
  ports: { postgres: number; nats: number; gateway: number; orders: number; payments: number }
  /** The throw-away data folder (removed by stop()). */
  dataDir: string
  child: ChildProcess
  output(): string
  /** Ctrl-C, then waits for a clean exit; returns the exit code (null if it had to be killed). */
  stop(): Promise<number | null>
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/**
 * A base port such that base + each offset is free now, below Linux's
 * ephemeral range (32768 and up), where no outgoing connection of the
 * services can take one of them meanwhile, and none of `taken`.
 */
async function freeBlock(offsets: number[], taken: ReadonlySet<number> = new Set()): Promise<number> {
  const span = Math.max(...offsets)
  for (;;) {
    const base = 20_000 + Math.floor(Math.random() * (12_000 - span))
    if (offsets.some((offset) => taken.has(base + offset))) continue
    const free = await Promise.all(offsets.map((offset) => portIsFree(base + offset)))
    if (free.every(Boolean)) return base
  }
}

/** The embedded NATS ports: with EMBEDDED_NATS_NODES=3 (or --scale), three client ports and their routes 2000 above. */
const NATS_OFFSETS = [0, 1, 2, 2000, 2001, 2002]
/** --scale's instance ports: base+1…, +21…, +41…, up to 16 each (launcher/start.ts). */
const INSTANCE_OFFSETS = [0, 20, 40].flatMap((offset) => Array.from({ length: 16 }, (_, i) => offset + i + 1))

export async function spawnGozon(
  options: {
    env?: Record<string, string>
    args?: string[]
    echo?: boolean
    timeoutMs?: number
    /** Start on this data folder (one a restore made) instead of a new one; stop() removes it all the same. */
    dataDir?: string
  } = {},
): Promise<SpawnedGozon> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'gozon-run-'))
  chmodSync(dataDir, 0o755) // PostgreSQL runs as the postgres user when we are root
  const stateFile = join(dataDir, 'state.json')
  const [postgres, gateway, orders, payments] = await Promise.all([freePort(), freePort(), freePort(), freePort()])
  const nats = await freeBlock(NATS_OFFSETS)
  // With --scale N the instances take ports from a base up (see launcher/start.ts): start from a free one.
  const instanceBase = await freeBlock(INSTANCE_OFFSETS, new Set(NATS_OFFSETS.map((offset) => nats + offset)))
  const child = spawn('bun', ['launcher/start.ts', ...(options.args ?? [])], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    env: {
      ...process.env,
      GOZON_DATA_DIR: dataDir,
      GOZON_STATE_FILE: stateFile,
      EMBEDDED_POSTGRES_PORT: String(postgres),
      EMBEDDED_NATS_PORT: String(nats),
      GATEWAY_PORT: String(gateway),
      ORDERS_PORT: String(orders),
      PAYMENTS_PORT: String(payments),
      GOZON_INSTANCE_PORT_BASE: String(instanceBase),
      DATABASE_URL: '',
      NATS_URL: '',
      LOG_LEVEL: 'warn',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const collect = (chunk: Buffer) => {
    output += chunk.toString()
    if (options.echo) process.stderr.write(chunk)
  }
  child.stdout?.on('data', collect)
  child.stderr?.on('data', collect)
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))

  const deadline = Date.now() + (options.timeoutMs ?? 90_000)
  while (!output.includes('Gozon is up')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL')
      rmSync(dataDir, { recursive: true, force: true })
      throw new Error(`Gozon did not start:\n${output}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  const state = JSON.parse(readFileSync(stateFile, 'utf8')) as LaunchState

  let stopping: Promise<number | null> | undefined
  return {
    state,
    ports: { postgres, nats, gateway, orders, payments },
    dataDir,
    child,
    output: () => output,
    stop() {
      stopping ??= (async () => {
        child.kill('SIGINT')
        const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))])
        if (code === 'timeout') child.kill('SIGKILL')
        rmSync(dataDir, { recursive: true, force: true })
        return code === 'timeout' ? null : code
      })()
      return stopping
    },
  }
}

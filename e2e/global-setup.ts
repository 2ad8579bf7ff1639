// Starts Gozon the way a user does (`bun launcher/start.ts`), with a throw-away
// data folder and free ports, for the browser tests; stops it with Ctrl-C.
import { type ChildProcess, spawn } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

export default async function globalSetup(): Promise<() => Promise<void>> {
  const dataDir = mkdtempSync(join(tmpdir(), 'gozon-e2e-'))
  chmodSync(dataDir, 0o755)
  const stateFile = join(dataDir, 'state.json')
  const [pg, nats, gateway, orders, payments] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()])
  const child: ChildProcess = spawn('bun', ['launcher/start.ts'], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    env: {
      ...process.env,
      GOZON_DATA_DIR: dataDir,
      GOZON_STATE_FILE: stateFile,
      EMBEDDED_POSTGRES_PORT: String(pg),
      EMBEDDED_NATS_PORT: String(nats),
      GATEWAY_PORT: String(gateway),
      ORDERS_PORT: String(orders),
      PAYMENTS_PORT: String(payments),
      DATABASE_URL: '',
      NATS_URL: '',
      // A paused service must not hold a page for long.
      UPSTREAM_TIMEOUT_MS: '1500',
      LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout?.on('data', (chunk) => (output += chunk))
  child.stderr?.on('data', (chunk) => {
    output += chunk
    if (process.env.E2E_LOG_LEVEL) process.stderr.write(chunk)
  })
  const deadline = Date.now() + 90_000
  while (!output.includes('Gozon is up')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`Gozon did not start for the browser tests:\n${output}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { gatewayUrl: string; pids: Record<string, number> }
  process.env.GOZON_E2E_URL = state.gatewayUrl
  process.env.GOZON_E2E_PAYMENTS_PID = String(state.pids.payments)

  return async () => {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.kill('SIGINT')
    await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))])
    child.kill('SIGKILL')
    rmSync(dataDir, { recursive: true, force: true })
  }
}

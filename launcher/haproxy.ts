// HAProxy (Debian's package) in front of several instances of each service,
// for `bun start -- --scale N` and for the fault suite: one frontend per
// service on its usual port, health checks against /health, WebSocket
// upgrades (tunnel timeout), X-Forwarded-For for the gateway, JSON error
// bodies from the one error catalogue, and draining through the runtime API
// (a unix socket) before an instance is stopped.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import { join } from 'node:path'
import { AppError, type ErrorCode } from '../shared/errors'
import { inheritedEnvironment } from './environment'
import { waitForPort } from './free-port'

export const HAPROXY_INSTALL_HINT = 'haproxy was not found: install it (Debian: `apt-get install -y haproxy`), or run without --scale.'

export type Frontend = {
  /** Also the backend's name: "gateway", "orders", "payments". */
  name: string
  port: number
  servers: { name: string; port: number }[]
  /** The gateway's frontend adds X-Forwarded-For, so the gateway sees who is calling. */
  forwardFor?: boolean
}

export type ServerState = { backend: string; server: string; operational: 'up' | 'down' | 'stopping' | 'starting'; admin: 'ready' | 'drain' | 'maint' }

export type RunningHaproxy = {
  process: ChildProcess
  configFile: string
  /** New connections go elsewhere; open ones (WebSockets) stay until the instance closes them. */
  drain(backend: string, server: string): Promise<void>
  ready(backend: string, server: string): Promise<void>
  /** What HAProxy thinks of each server (its health checks and admin states). */
  servers(): Promise<ServerState[]>
  /** Waits until HAProxy's checks see `server` as up (or down). */
  waitFor(backend: string, server: string, operational: 'up' | 'down', timeoutMs?: number): Promise<void>
  /** Soft stop (SIGUSR1): stops listening, lets open requests finish, then exits (hard stop after 5 s). */
  stop(): Promise<void>
}

export function haproxyBinary(): string | undefined {
  for (const candidate of [Bun.which('haproxy'), '/usr/sbin/haproxy']) {
    if (candidate && spawnSync(candidate, ['-v']).status === 0) return candidate
  }
  return undefined
}

/** A complete HTTP response for HAProxy's errorfile: a catalogue error as JSON, like every other error of Gozon. */
function errorFile(status: number, reason: string, code: ErrorCode, message?: string): string {
  const body = JSON.stringify(message ? { ...new AppError(code).toBody(), message } : new AppError(code).toBody())
  return [
    `HTTP/1.1 ${status} ${reason}`,
    'content-type: application/json',
    'cache-control: no-store',
    'connection: close',
    `content-length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n')
}

/**
 * What HAProxy checks: a service instance is up when its dependencies answer
 * (/health: an instance that lost its database or NATS gets no requests); a
 * gateway when it answers at all (/health/live), because a gateway whose
 * payments is down still serves the pages, sign-in and new orders.
 */
export const healthPathOf = (frontend: string) => (frontend === 'gateway' ? '/health/live' : '/health')

export function haproxyConfig(dir: string, host: string, frontends: Frontend[]): string {
  const lines = [
    'global',
    `  stats socket ${join(dir, 'admin.sock')} mode 600 level admin`,
    '  hard-stop-after 5s',
    // Each connection takes two descriptors (client and server side); 4000 fits the usual limits.
    '  maxconn 4000',
    '',
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    // A service answers within the gateway's upstream timeout (10 s by default); a bit more here.
    '  timeout client 30s',
    '  timeout server 30s',
    '  timeout http-request 10s',
    // An upgraded WebSocket is a tunnel: kept open while the page is.
    '  timeout tunnel 1h',
    // Retry on another instance only when the connection could not be made (never a request that was sent).
    '  retries 2',
    '  option redispatch',
    // An instance marked down loses its open sessions too (a frozen gateway's WebSockets), so they reconnect elsewhere.
    '  default-server inter 1s fastinter 250ms downinter 1s rise 2 fall 2 on-marked-down shutdown-sessions',
    `  errorfile 502 ${join(dir, '502.http')}`,
    `  errorfile 503 ${join(dir, '503.http')}`,
    `  errorfile 504 ${join(dir, '504.http')}`,
    '',
  ]
  for (const f of frontends) {
    lines.push(`frontend ${f.name}`, `  bind ${host}:${f.port}`)
    if (f.forwardFor) lines.push('  option forwardfor')
    lines.push(`  default_backend ${f.name}`, '')
    lines.push(
      `backend ${f.name}`,
      // Long-lived WebSockets: send each new connection to the instance with the fewest.
      `  balance ${f.forwardFor ? 'leastconn' : 'roundrobin'}`,
      '  option httpchk',
      `  http-check send meth GET uri ${healthPathOf(f.name)} ver HTTP/1.1 hdr Host localhost`,
      '  http-check expect status 200',
      ...f.servers.map((s) => `  server ${s.name} 127.0.0.1:${s.port} check`),
      '',
    )
  }
  return lines.join('\n')
}

/** Sends one command to HAProxy's runtime API and returns its answer. */
function runtimeCommand(socket: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const connection = createConnection(socket)
    let answer = ''
    connection.on('connect', () => connection.write(`${command}\n`))
    connection.on('data', (chunk) => (answer += chunk.toString()))
    connection.on('end', () => resolve(answer))
    connection.on('error', reject)
  })
}

export async function startHaproxy(options: {
  dir: string
  host?: string
  frontends: Frontend[] /** Its own process group (see PostgresOptions.detached). */
  detached?: boolean
}): Promise<RunningHaproxy> {
  const binary = haproxyBinary()
  if (!binary) throw new Error(HAPROXY_INSTALL_HINT)
  mkdirSync(options.dir, { recursive: true })
  writeFileSync(join(options.dir, '502.http'), errorFile(502, 'Bad Gateway', 'upstream_unavailable'))
  writeFileSync(join(options.dir, '503.http'), errorFile(503, 'Service Unavailable', 'service_unavailable', 'No instance of this service is up; retry shortly'))
  writeFileSync(join(options.dir, '504.http'), errorFile(504, 'Gateway Timeout', 'upstream_timeout'))
  const configFile = join(options.dir, 'haproxy.cfg')
  writeFileSync(configFile, haproxyConfig(options.dir, options.host ?? '127.0.0.1', options.frontends))
  const check = spawnSync(binary, ['-c', '-q', '-f', configFile], { encoding: 'utf8' })
  if (check.status !== 0) throw new Error(`haproxy refused its configuration: ${check.stderr || check.stdout}`)
  // -db: stay in the foreground, under the launcher; -q: no start-up notices. Alerts go to stderr.
  const child = spawn(binary, ['-db', '-q', '-f', configFile], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: options.detached ?? false,
    env: inheritedEnvironment(),
  })
  let alerts = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    alerts += chunk.toString()
    process.stderr.write(chunk)
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const listening = Promise.all(options.frontends.map((f) => waitForPort(f.port, 10_000)))
  const outcome = await Promise.race([listening.then(() => 'up' as const), exited.then(() => 'exited' as const)])
  if (outcome === 'exited') throw new Error(`haproxy exited at start: ${alerts.trim()}`)
  const socket = join(options.dir, 'admin.sock')

  async function servers(): Promise<ServerState[]> {
    // "show servers state": one line per server; the fields are named on the second line.
    const text = await runtimeCommand(socket, 'show servers state')
    const rows = text.split('\n').filter((l) => /^\d+ /.test(l))
    const operational = { 0: 'down', 1: 'starting', 2: 'up', 3: 'stopping' } as const
    return rows.map((row) => {
      const f = row.split(' ')
      // be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ...
      const admin = Number(f[6])
      return {
        backend: f[1]!,
        server: f[3]!,
        operational: operational[Number(f[5]) as 0 | 1 | 2 | 3] ?? 'down',
        // SRV_ADMF_*: forced, inherited, configured, resolution or hostname maintenance; forced or inherited drain.
        admin: admin & (0x01 | 0x02 | 0x04 | 0x20 | 0x40) ? 'maint' : admin & (0x08 | 0x10) ? 'drain' : 'ready',
      }
    })
  }

  return {
    process: child,
    configFile,
    async drain(backend, server) {
      await runtimeCommand(socket, `set server ${backend}/${server} state drain`)
    },
    async ready(backend, server) {
      await runtimeCommand(socket, `set server ${backend}/${server} state ready`)
    },
    servers,
    async waitFor(backend, server, operational, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs
      while (Date.now() < deadline) {
        const state = (await servers()).find((s) => s.backend === backend && s.server === server)
        if (state?.operational === operational || (operational === 'down' && state?.operational === 'stopping')) return
        await Bun.sleep(100)
      }
      throw new Error(`haproxy did not see ${backend}/${server} ${operational} within ${timeoutMs} ms`)
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGUSR1')
      const force = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(force)
    },
  }
}

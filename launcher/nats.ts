// A private nats-server with JetStream for `bun start` and for the tests,
// listening on loopback only, with `sync_interval: always` (fsync before every
// acknowledgement): 2.10 or later is required unless explicitly waived.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { inheritedEnvironment } from './environment'
import { waitForPort } from './free-port'

export const NATS_INSTALL_HINT =
  "nats-server was not found. Run `bash launcher/install-nats.sh` (Debian: fetches Debian 13's nats-server 2.10 into .tools/), install nats-server 2.10 or later, or point NATS_URL at a running server with JetStream."

/** Where launcher/install-nats.sh unpacks Debian 13's nats-server. */
const LOCAL_NATS_SERVER = join(import.meta.dir, '..', '.tools', 'nats-server', 'usr', 'sbin', 'nats-server')

/** The setting that lets Gozon run on a nats-server that cannot fsync before acknowledging. */
export const ALLOW_NATS_WITHOUT_FSYNC = 'GOZON_ALLOW_NATS_WITHOUT_FSYNC'

/**
 * The nats-server to run: GOZON_NATS_SERVER if set; else the first of
 * .tools/nats-server (launcher/install-nats.sh), PATH and /usr/sbin (where
 * Debian puts it, often not on a user's PATH) that is 2.10 or later; else the
 * first one found at all (startNats then refuses it unless allowed).
 */
export function natsServerBinary(env: Record<string, string | undefined> = process.env): { path: string; version: string } | undefined {
  const candidates = env.GOZON_NATS_SERVER
    ? [env.GOZON_NATS_SERVER]
    : [LOCAL_NATS_SERVER, Bun.which('nats-server'), '/usr/sbin/nats-server'].filter((c): c is string => Boolean(c) && existsSync(c!))
  const found: { path: string; version: string }[] = []
  for (const path of candidates) {
    const run = spawnSync(path, ['--version'], { encoding: 'utf8' })
    if (run.status === 0) found.push({ path, version: (run.stdout ?? '').trim() })
  }
  return found.find((f) => supportsSyncAlways(f.version)) ?? found[0]
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

/** Thrown for a nats-server older than 2.10 when running without fsync is not explicitly allowed. */
export class NatsTooOldError extends Error {
  constructor(version: string, path: string) {
    super(
      `${path} is ${version}, older than 2.10: it cannot fsync before acknowledging a publish (sync_interval: always), so a crash can lose acknowledged messages. ` +
        `Run \`bash launcher/install-nats.sh\` (fetches Debian 13's nats-server 2.10 into .tools/, touching nothing else), install 2.10 or later, ` +
        `or set ${ALLOW_NATS_WITHOUT_FSYNC}=true to run anyway without that guarantee.`,
    )
    this.name = 'NatsTooOldError'
  }
}

/** One node of a JetStream cluster on loopback: its name, its route port, and the other nodes' route ports. */
export type ClusterNode = { clusterName: string; serverName: string; routePort: number; peerRoutePorts: number[] }

export async function startNats(options: {
  storeDir: string
  port: number
  onLog?: (line: string) => void
  /** Run a server older than 2.10 (no fsync before the acknowledgement); default: the GOZON_ALLOW_NATS_WITHOUT_FSYNC setting. */
  allowWithoutFsync?: boolean
  /** Start it as one node of a cluster (startNatsCluster). */
  cluster?: ClusterNode
  /** Its own process group (see PostgresOptions.detached). */
  detached?: boolean
}): Promise<RunningNats> {
  const binary = natsServerBinary()
  if (!binary) throw new Error(NATS_INSTALL_HINT)
  const syncAlways = supportsSyncAlways(binary.version)
  const allowed = options.allowWithoutFsync ?? process.env[ALLOW_NATS_WITHOUT_FSYNC] === 'true'
  if (!syncAlways && !allowed) throw new NatsTooOldError(binary.version, binary.path)
  if (!syncAlways) {
    console.error(
      `\n*** ${ALLOW_NATS_WITHOUT_FSYNC}=true: running ${binary.version}, which cannot fsync before acknowledging. A message acknowledged just before a crash can be lost; the stuck-order sweeper asks again for the orders it leaves waiting. ***\n`,
    )
  }
  mkdirSync(options.storeDir, { recursive: true })
  const configFile = join(options.storeDir, 'nats-server.conf')
  writeFileSync(
    configFile,
    [
      `listen: "127.0.0.1:${options.port}"`,
      ...(options.cluster ? [`server_name: ${JSON.stringify(options.cluster.serverName)}`] : []),
      'jetstream {',
      `  store_dir: ${JSON.stringify(options.storeDir)}`,
      ...(syncAlways ? ['  sync_interval: always'] : []),
      '}',
      ...(options.cluster
        ? [
            'cluster {',
            `  name: ${JSON.stringify(options.cluster.clusterName)}`,
            `  listen: "127.0.0.1:${options.cluster.routePort}"`,
            `  routes: [${options.cluster.peerRoutePorts.map((p) => JSON.stringify(`nats-route://127.0.0.1:${p}`)).join(', ')}]`,
            '}',
          ]
        : []),
      '',
    ].join('\n'),
  )
  // Not the launcher's secrets: a server needs none of them.
  const child = spawn(binary.path, ['-c', configFile], { stdio: ['ignore', 'pipe', 'pipe'], detached: options.detached ?? false, env: inheritedEnvironment() })
  // The last lines it printed, to say why when it exits during start (a port taken, a bad store).
  const recent: string[] = []
  const log = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.trim()) continue
      recent.push(line)
      if (recent.length > 5) recent.shift()
      options.onLog?.(line)
    }
  }
  child.stdout?.on('data', log)
  child.stderr?.on('data', log)
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) =>
      reject(new Error(`nats-server on port ${options.port} exited during start (code ${code}): ${recent.join(' | ') || 'no output'}`)),
    ),
  )
  exited.catch(() => {})
  try {
    await Promise.race([waitForPort(options.port, 10_000), exited])
  } catch (error) {
    // Not left behind holding the port and the store when it did not come up in time.
    child.kill('SIGKILL')
    throw error
  }

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

export type RunningCluster = {
  nodes: RunningNats[]
  /** Every node's client URL, comma-separated: what NATS_URL carries for clients that fail over. */
  url: string
  /** Stops node `i` (SIGKILL to crash it). */
  stopNode(i: number, signal?: NodeJS.Signals): Promise<void>
  /** Starts node `i` again on its ports and store. */
  restartNode(i: number): Promise<void>
  stop(): Promise<void>
}

/**
 * A JetStream cluster of `clientPorts.length` nodes on loopback: each with its
 * own store directory (`<rootDir>/n<i>`), routes to every other node, and
 * `sync_interval: always`. Streams declared with num_replicas 3 live on
 * three of them and survive the loss of one.
 */
export async function startNatsCluster(options: {
  rootDir: string
  clientPorts: number[]
  routePorts: number[]
  onLog?: (node: number, line: string) => void
  /** Each node in its own process group (see PostgresOptions.detached). */
  detached?: boolean
}): Promise<RunningCluster> {
  const nodeOptions = (i: number) => ({
    storeDir: join(options.rootDir, `n${i + 1}`),
    port: options.clientPorts[i]!,
    detached: options.detached,
    onLog: (line: string) => options.onLog?.(i, line),
    cluster: {
      clusterName: 'gozon',
      serverName: `gozon-n${i + 1}`,
      routePort: options.routePorts[i]!,
      peerRoutePorts: options.routePorts.filter((_, j) => j !== i),
    },
  })
  const nodes = await Promise.all(options.clientPorts.map((_, i) => startNats(nodeOptions(i))))
  await jetStreamReady(nodes.map((n) => n.url))
  // Two nodes elect a leader without the third: one that died after its client port opened (say, its route port
  // could not be bound) would leave a cluster that cannot place three replicas. Say so now, not a minute later.
  const gone = nodes.findIndex((n) => n.process.exitCode !== null || n.process.signalCode !== null)
  if (gone !== -1) {
    await Promise.all(nodes.map((n) => n.stop()))
    throw new Error(
      `nats-server node ${gone + 1} (client port ${options.clientPorts[gone]}, route port ${options.routePorts[gone]}) exited right after it started`,
    )
  }
  return {
    nodes,
    url: nodes.map((n) => n.url).join(','),
    async stopNode(i, signal = 'SIGTERM') {
      await nodes[i]!.stop(signal)
    },
    async restartNode(i) {
      nodes[i] = await startNats(nodeOptions(i))
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()))
    },
  }
}

/** Waits until the cluster's JetStream answers (its nodes have elected a meta leader), at most `timeoutMs`. */
async function jetStreamReady(servers: string[], timeoutMs = 30_000): Promise<void> {
  const nc = await connect({ servers, maxReconnectAttempts: -1 })
  try {
    const jsm = await jetstreamManager(nc, { timeout: 1000, checkAPI: false })
    const deadline = Date.now() + timeoutMs
    for (;;) {
      try {
        await jsm.getAccountInfo()
        return
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`the NATS cluster's JetStream did not come up within ${timeoutMs} ms: ${String(error)}`)
        await Bun.sleep(200)
      }
    }
  } finally {
    await nc.close()
  }
}

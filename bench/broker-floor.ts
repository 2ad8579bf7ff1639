// `bun bench/broker-floor.ts`: what JetStream alone costs per order on this
// machine, with nothing of Gozon around it. An order moves two JetStream
// messages (payment requested, payment result); each is published with a
// Nats-Msg-Id and acknowledged by the server after its fsync (sync_interval:
// always), pulled by a durable consumer, and acked explicitly. This runs
// exactly that shape, as fast as the broker takes it, on one node (R1) and on
// the launcher's three-node cluster (R3), and reports messages/s, NATS CPU
// per message and what that is per order: the floor under `bun run bench`'s
// orders/s, since no amount of work on the services can go below it.
//
//   bun bench/broker-floor.ts                     both setups, 20000 messages each
//   bun bench/broker-floor.ts --messages 50000 --in-flight 256 --setups cluster
import { closeSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream'
import { connect, headers, nanos } from '@nats-io/transport-node'
import { freePort } from '../launcher/free-port'
import { type RunningNats, startNats, startNatsCluster } from '../launcher/nats'

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '20000' },
    'in-flight': { type: 'string', default: '128' },
    'payload-bytes': { type: 'string', default: '200' },
    setups: { type: 'string', default: 'single,cluster' },
  },
})
const total = Number(args.messages)
const inFlight = Number(args['in-flight'])
const payload = new TextEncoder().encode('x'.repeat(Number(args['payload-bytes'])))

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

type Setup = { name: string; replicas: number; nodes: RunningNats[]; url: string; stop(): Promise<void> }

async function startSetup(name: string, root: string): Promise<Setup> {
  if (name === 'single') {
    const node = await startNats({ storeDir: join(root, 'single'), port: await freePort() })
    return { name, replicas: 1, nodes: [node], url: node.url, stop: () => node.stop() }
  }
  const clientPorts = [await freePort(), await freePort(), await freePort()]
  const routePorts = [await freePort(), await freePort(), await freePort()]
  const cluster = await startNatsCluster({ rootDir: join(root, 'cluster'), clientPorts, routePorts })
  return { name, replicas: 3, nodes: cluster.nodes, url: cluster.url, stop: () => cluster.stop() }
}

async function measure(setup: Setup) {
  const servers = setup.url.split(',')
  // A publisher and a consumer connection, like a relay in one service and a consumer in the other.
  const pubConn = await connect({ servers })
  const subConn = await connect({ servers: [...servers].reverse() })
  const jsm = await jetstreamManager(pubConn)
  await jsm.streams.add({
    name: 'FLOOR',
    subjects: ['floor.>'],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    duplicate_window: nanos(120_000),
    num_replicas: setup.replicas,
  })
  await jsm.consumers.add('FLOOR', {
    durable_name: 'floor',
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    max_ack_pending: 2000,
    ack_wait: nanos(30_000),
  })
  const js = jetstream(pubConn)
  // Warm up: connections, leaders, the first file blocks.
  for (let i = 0; i < 200; i++) await js.publish('floor.warm', payload, { msgID: `warm-${i}` })

  const consumer = await jetstream(subConn).consumers.get('FLOOR', 'floor')
  let consumed = 0
  let allConsumed!: () => void
  const done = new Promise<void>((resolve) => (allConsumed = resolve))
  const messages = await consumer.consume({ max_messages: 256, expires: 5000 })
  void (async () => {
    for await (const msg of messages) {
      msg.ack()
      if (msg.subject === 'floor.m' && ++consumed === total) allConsumed()
    }
  })()

  const before = setup.nodes.map((n) => cpuSeconds(n.process.pid!))
  const started = performance.now()
  let next = 0
  const publisher = async () => {
    while (next < total) {
      const i = next++
      const h = headers()
      h.set('Nats-Msg-Id', `m-${i}`)
      await js.publish('floor.m', payload, { headers: h })
    }
  }
  await Promise.all(Array.from({ length: inFlight }, publisher))
  const publishedMs = performance.now() - started
  await done
  // The acks are fire-and-forget: wait until the server has taken them all.
  for (;;) {
    const info = await jsm.consumers.info('FLOOR', 'floor')
    if (info.num_ack_pending === 0 && info.num_pending === 0) break
    await Bun.sleep(20)
  }
  const wallMs = performance.now() - started
  const cpu = setup.nodes.reduce((sum, n, i) => sum + cpuSeconds(n.process.pid!) - before[i]!, 0)
  await messages.close()
  await pubConn.close()
  await subConn.close()
  const perMessageMs = (cpu * 1000) / total
  return {
    setup: setup.name,
    replicas: setup.replicas,
    messages: total,
    publishedPerSecond: Math.round(total / (publishedMs / 1000)),
    consumedPerSecond: Math.round(total / (wallMs / 1000)),
    natsCpuMsPerMessage: Math.round(perMessageMs * 1000) / 1000,
    natsCpuMsPerOrder: Math.round(perMessageMs * 2 * 1000) / 1000,
    // Two messages per order: the broker's own rate, and what its CPU alone would allow on this
    // machine's cores if the services, PostgreSQL and HAProxy cost nothing. Gozon cannot beat the lower.
    ordersPerSecondAtMost: Math.round(Math.min(total / (wallMs / 1000) / 2, (cpus().length * 1000) / (perMessageMs * 2))),
  }
}

/**
 * How many 4 KiB write + fsync pairs the store's disk takes per second, one
 * after the other: every node of the cluster shares this one disk here, and
 * each replicated message costs several of them.
 */
function fsyncsPerSecond(dir: string, count = 2000): number {
  const file = join(dir, 'fsync-probe')
  const fd = openSync(file, 'w')
  const block = new Uint8Array(4096)
  const started = performance.now()
  for (let i = 0; i < count; i++) {
    writeSync(fd, block)
    fsyncSync(fd)
  }
  const seconds = (performance.now() - started) / 1000
  closeSync(fd)
  rmSync(file)
  return Math.round(count / seconds)
}

// The stores where the launcher keeps them (.data), not in /tmp, which may be another disk.
const dataDir = join(import.meta.dir, '..', '.data')
mkdirSync(dataDir, { recursive: true })
const root = mkdtempSync(join(dataDir, 'broker-floor-'))
const results = []
let fsyncs = 0
try {
  fsyncs = fsyncsPerSecond(root)
  for (const name of args.setups!.split(',')) {
    const setup = await startSetup(name, root)
    try {
      results.push(await measure(setup))
    } finally {
      await setup.stop()
    }
  }
} finally {
  rmSync(root, { recursive: true, force: true })
}
console.log(`the store's disk: ${fsyncs} write+fsync pairs per second, one at a time`)
console.log(`bun bench/broker-floor.ts --messages ${total} --in-flight ${inFlight} --payload-bytes ${payload.length}`)
console.table(results)

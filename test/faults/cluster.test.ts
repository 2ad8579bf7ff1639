// Fault scenario 12: a three-node JetStream cluster (streams with three
// replicas, clients given every node's URL). The node leading the payment
// requests stream is SIGKILLed under a stream of orders and restarted later:
// the other two elect a new leader, the clients fail over, and every order is
// paid once.
import { afterEach, expect, test } from 'bun:test'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { STREAMS } from '../../shared/messaging/contracts'
import { orderStream, placedMore, report, shoppers, startFaultSystem } from './harness'

type System = Awaited<ReturnType<typeof startFaultSystem>>
let sys: System | undefined
afterEach(async () => {
  await sys?.stop()
  sys = undefined
})

test('12. three-node NATS cluster: the stream leader SIGKILLed mid-stream, restarted later; every order paid once', async () => {
  sys = await startFaultSystem({}, { natsNodes: 3 })
  await sys.start('orders')
  await sys.start('payments')
  // Both streams were declared with three replicas, one on each node.
  const nc = await connect({ servers: [0, 1, 2].map((i) => sys!.natsNode(i).url) })
  const jsm = await jetstreamManager(nc)
  for (const stream of Object.values(STREAMS)) {
    const info = await jsm.streams.info(stream.name)
    expect(info.config.num_replicas).toBe(3)
    expect(1 + (info.cluster?.replicas?.length ?? 0)).toBe(3)
  }
  await nc.close()

  await shoppers(sys, 5, 100_000)
  const stream = orderStream(sys, 5)
  await placedMore(stream.placed, 50, 'before the fault')
  const leader = await sys.streamLeader(STREAMS.paymentRequests.name)
  await sys.stopNatsNode(leader, 'SIGKILL')
  await placedMore(stream.placed, 50, 'with the leader gone', 30_000)
  const newLeader = await sys.streamLeader(STREAMS.paymentRequests.name)
  expect(newLeader).not.toBe(leader)
  await sys.restartNatsNode(leader)
  await placedMore(stream.placed, 25, 'after the node is back')
  const { placed } = await stream.stop()
  expect(placed).toBeGreaterThan(125)
  report(`12 (NATS cluster, stream leader gozon-n${leader + 1} SIGKILLed)`, await sys.checkInvariants(45_000))
}, 120_000)

test('12b. three-node NATS cluster: the stream leader frozen (SIGSTOP) longer than the consumers’ ack wait, then resumed', async () => {
  // The harness's ack wait is 1.5 s: the frozen leader holds deliveries past it.
  sys = await startFaultSystem({}, { natsNodes: 3 })
  await sys.start('orders')
  await sys.start('payments')
  await shoppers(sys, 5, 100_000)
  const stream = orderStream(sys, 5)
  await placedMore(stream.placed, 50, 'before the fault')
  const leader = await sys.streamLeader(STREAMS.paymentRequests.name)
  const frozen = sys.natsNode(leader).process
  frozen.kill('SIGSTOP')
  try {
    await placedMore(stream.placed, 50, 'with the leader frozen', 30_000)
    await Bun.sleep(6000) // the partition lasts well past the ack wait
  } finally {
    frozen.kill('SIGCONT')
  }
  await placedMore(stream.placed, 25, 'after the node is back')
  const { placed } = await stream.stop()
  expect(placed).toBeGreaterThan(125)
  report(`12b (NATS cluster, stream leader gozon-n${leader + 1} frozen 6 s+)`, await sys.checkInvariants(45_000))
}, 120_000)

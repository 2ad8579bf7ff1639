// Exactly-once money movement under duplicates, redeliveries and crashes at
// the worst moments. Every test checks the money, not just the statuses.
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import { connect } from '@nats-io/transport-node'
import { armFailpoint, disarmAllFailpoints } from '../../shared/failpoints'
import { CONSUMERS, messageIds, SUBJECTS } from '../../shared/messaging/contracts'
import { pollUntil } from '../support/poll'
import { startSystem, type TestSystem } from '../support/system'

const requests = CONSUMERS.payments
const results = CONSUMERS.orders

async function paymentsFor(sys: TestSystem, orderId: string) {
  const rows = await sys.paymentsSql`select outcome from payments where order_id = ${orderId}`
  const ledger = await sys.paymentsSql`select amount from ledger_entries where order_id = ${orderId}`
  return { decisions: rows.length, debits: ledger.length }
}

afterEach(() => disarmAllFailpoints())

describe('with the default duplicate window', () => {
  let sys: TestSystem
  beforeAll(async () => {
    sys = await startSystem()
  })
  afterAll(() => sys.stop())

  test('the same message published twice is stored once by JetStream and charged once', async () => {
    await sys.openAccount('u1', 1000)
    const orderId = crypto.randomUUID()
    const message = { orderId, userId: 'u1', amount: 100 }
    const first = await sys.publishRaw(SUBJECTS.paymentRequested, message, 'dup-1')
    const second = await sys.publishRaw(SUBJECTS.paymentRequested, message, 'dup-1')
    expect(first.duplicate).toBe(false)
    expect(second.duplicate).toBe(true)
    await sys.waitForConsumerIdle(requests.stream, requests.durable)
    expect(await sys.balance('u1')).toBe(900)
    expect(await paymentsFor(sys, orderId)).toEqual({ decisions: 1, debits: 1 })
  })

  test('the same order requested under two message ids, concurrently, is charged once', async () => {
    await sys.openAccount('u2', 1000)
    const orderId = crypto.randomUUID()
    const message = { orderId, userId: 'u2', amount: 250 }
    await Promise.all(['a', 'b', 'c', 'd'].map((suffix) => sys.publishRaw(SUBJECTS.paymentRequested, message, `two-ids-${suffix}`)))
    await sys.waitForConsumerIdle(requests.stream, requests.durable)
    expect(await sys.balance('u2')).toBe(750)
    expect(await paymentsFor(sys, orderId)).toEqual({ decisions: 1, debits: 1 })
    const [inbox] = await sys.paymentsSql`select count(*)::int as n from inbox where message_id like 'two-ids-%'`
    expect(inbox!.n).toBe(4)
  })

  test('payments dying after commit but before the ack: the redelivery does not debit again', async () => {
    await sys.openAccount('u3', 1000)
    const duplicatesBefore = sys.payments.consumer.stats.duplicates
    armFailpoint(`${requests.durable}.after-commit`)
    const orderId = await sys.createOrder('u3', 300)
    const order = await sys.waitForFinal('u3', orderId)
    expect(order.status).toBe('FINISHED')
    await sys.waitForConsumerIdle(requests.stream, requests.durable)
    // The first delivery committed and was never acked; the second found its id in the inbox.
    expect(sys.payments.consumer.stats.duplicates).toBe(duplicatesBefore + 1)
    expect(await sys.balance('u3')).toBe(700)
    expect(await paymentsFor(sys, orderId)).toEqual({ decisions: 1, debits: 1 })
  })

  test('payments dying before commit: nothing was written, the redelivery charges once', async () => {
    await sys.openAccount('u4', 1000)
    const redeliveredBefore = sys.payments.consumer.stats.redelivered
    armFailpoint(`${requests.durable}.before-commit`)
    const orderId = await sys.createOrder('u4', 400)
    expect((await sys.waitForFinal('u4', orderId)).status).toBe('FINISHED')
    // The first delivery did die before its commit: what charged the order was a redelivery.
    expect(sys.payments.consumer.stats.redelivered).toBeGreaterThan(redeliveredBefore)
    expect(await sys.balance('u4')).toBe(600)
    expect(await paymentsFor(sys, orderId)).toEqual({ decisions: 1, debits: 1 })
  })

  test('orders dying after commit but before the ack: the status is set once, stays, and is still announced', async () => {
    await sys.openAccount('u5', 1000)
    // What the gateways hear: the crash cut the first announcement off with the ack.
    const nc = await connect({ servers: sys.nats.url })
    const announced: string[] = []
    nc.subscribe(SUBJECTS.orderStatusChanged, { callback: (_, msg) => void announced.push(msg.string()) })
    await nc.flush()
    const duplicatesBefore = sys.orders.consumer.stats.duplicates
    armFailpoint(`${results.durable}.after-commit`)
    const orderId = await sys.createOrder('u5', 500)
    expect((await sys.waitForFinal('u5', orderId)).status).toBe('FINISHED')
    await sys.waitForConsumerIdle(results.stream, results.durable)
    expect(sys.orders.consumer.stats.duplicates).toBe(duplicatesBefore + 1)
    expect(await sys.balance('u5')).toBe(500)
    // The redelivery found its id in the inbox and announced the order's final status again.
    const mine = await pollUntil(
      'the announcement of the order',
      () => announced.map((text) => JSON.parse(text) as { orderId: string; status: string }).filter((a) => a.orderId === orderId),
      (found) => found.length > 0,
    )
    expect(mine.map((a) => a.status)).toEqual(['FINISHED'])
    await nc.close()
  })

  test('100 concurrent orders on an account that covers exactly 37 of them', async () => {
    await sys.openAccount('u6', 37 * 1234)
    const ids = await Promise.all(Array.from({ length: 100 }, () => sys.createOrder('u6', 1234)))
    const finals = await Promise.all(ids.map((id) => sys.waitForFinal('u6', id, 30_000)))
    expect(finals.filter((o) => o.status === 'FINISHED')).toHaveLength(37)
    const cancelled = finals.filter((o) => o.status === 'CANCELLED')
    expect(cancelled).toHaveLength(63)
    for (const o of cancelled) expect(o.reason).toBe('insufficient_funds')
    expect(await sys.balance('u6')).toBe(0)
    const [ledger] = await sys.paymentsSql`
      select count(*)::int as n, coalesce(sum(amount), 0)::bigint as total, min(balance_after)::bigint as lowest
      from ledger_entries where user_id = 'u6' and kind = 'payment'`
    expect(ledger!.n).toBe(37)
    expect(Number(ledger!.total)).toBe(37 * 1234)
    expect(Number(ledger!.lowest)).toBe(0)
  })

  test('a poison message is dead-lettered and terminated without blocking good ones', async () => {
    await sys.openAccount('u7', 1000)
    await sys.publishRaw(SUBJECTS.paymentRequested, '{not json', 'poison-json')
    await sys.publishRaw(SUBJECTS.paymentRequested, { orderId: crypto.randomUUID(), userId: 'u7', amount: -5 }, 'poison-negative')
    await sys.publishRaw(SUBJECTS.paymentRequested, { orderId: crypto.randomUUID(), userId: 'u7', amount: 5, extra: 1 }, 'poison-extra')
    await sys.publishRaw(SUBJECTS.paymentRequested, { orderId: crypto.randomUUID(), userId: 'u7', amount: 5 }) // no message id
    const good = await sys.createOrder('u7', 100)
    expect((await sys.waitForFinal('u7', good)).status).toBe('FINISHED')
    await sys.waitForConsumerIdle(requests.stream, requests.durable)
    // Handled concurrently: order by where they stood in the stream.
    const dead = await sys.paymentsSql`select message_id, reason from dead_letters order by stream_sequence`
    expect(dead.map((d) => d.message_id)).toEqual(['poison-json', 'poison-negative', 'poison-extra', null])
    expect(dead[0]!.reason).toContain('not valid UTF-8 JSON')
    expect(dead[1]!.reason).toContain('/amount')
    expect(dead[2]!.reason).toContain('/extra')
    expect(dead[3]!.reason).toContain('no Nats-Msg-Id')
    expect(await sys.balance('u7')).toBe(900)
  })
})

describe('the relay restarted with unpublished rows', () => {
  for (const window of [
    { name: 'JetStream dedup', ms: 600_000 },
    { name: 'a 1 s duplicate window (the inbox alone)', ms: 1000 },
  ]) {
    test(`crash after publish, before marking: all published, none twice in effect (${window.name})`, async () => {
      const sys = await startSystem({ ordersRelay: false, env: { NATS_DUPLICATE_WINDOW_MS: String(window.ms), RELAY_GRACE_MS: '0', RELAY_LEASE_MS: '6000' } })
      try {
        await sys.openAccount('r1', 20 * 100)
        const ids = await Promise.all(Array.from({ length: 30 }, () => sys.createOrder('r1', 100)))
        const [pending] = await sys.ordersSql`select count(*)::int as n from outbox where published_at is null`
        expect(pending!.n).toBe(30)
        expect(await sys.streamMessages('paymentRequests')).toBe(0)

        // First relay: publishes the batch, then dies before marking it published.
        armFailpoint('orders.relay.after-publish')
        await sys.orders.relay.start()
        await pollUntil(
          'the first relay to publish all 30',
          () => sys.streamMessages('paymentRequests'),
          (n) => n >= 30,
        )
        expect(await sys.streamMessages('paymentRequests')).toBe(30)
        await sys.waitForConsumerIdle(requests.stream, requests.durable)
        const [still] = await sys.ordersSql`select count(*)::int as n from outbox where published_at is null`
        expect(still!.n).toBe(30)

        if (window.ms < 5000) await Bun.sleep(window.ms + 500) // let JetStream forget the ids
        const duplicatesBefore = sys.payments.consumer.stats.duplicates
        await sys.orders.relay.start() // the restarted relay publishes all 30 again, once the dead one's lease is over
        const finals = await Promise.all(ids.map((id) => sys.waitForFinal('r1', id)))
        await pollUntil(
          "every outbox row published once the dead relay's lease is over",
          async () => (await sys.ordersSql`select count(*)::int as n from outbox where published_at is null`)[0]!.n as number,
          (left) => left === 0,
          { timeoutMs: 15_000, intervalMs: 50 },
        )
        await sys.waitForConsumerIdle(requests.stream, requests.durable)

        expect(finals.filter((o) => o.status === 'FINISHED')).toHaveLength(20)
        expect(finals.filter((o) => o.status === 'CANCELLED')).toHaveLength(10)
        expect(await sys.balance('r1')).toBe(0)
        const [ledger] = await sys.paymentsSql`select count(*)::int as n from ledger_entries where kind = 'payment'`
        expect(ledger!.n).toBe(20)
        if (window.ms < 5000) {
          // JetStream stored the re-publish; the inbox recognised every one.
          expect(await sys.streamMessages('paymentRequests')).toBe(60)
          expect(sys.payments.consumer.stats.duplicates - duplicatesBefore).toBe(30)
        } else {
          expect(await sys.streamMessages('paymentRequests')).toBe(30)
        }
      } finally {
        await sys.stop()
      }
    })
  }
})

test('message ids are one per order and kind: what the services write is what JetStream deduplicates on', async () => {
  const sys = await startSystem()
  try {
    await sys.openAccount('ids', 1000)
    const orderId = await sys.createOrder('ids', 10)
    await sys.waitForFinal('ids', orderId)
    // The outbox row ids are the messages' Nats-Msg-Id: derived from the order, so a re-publish
    // of the same row, or a new row for the same order and kind, carries the same id.
    const requested = await sys.ordersSql`select id from outbox where payload->>'orderId' = ${orderId}`
    const result = await sys.paymentsSql`select id from outbox where payload->>'orderId' = ${orderId}`
    expect(requested.map((r) => r.id)).toEqual([messageIds.paymentRequested(orderId)])
    expect(result.map((r) => r.id)).toEqual([messageIds.paymentResult(orderId)])
    expect(messageIds.paymentRequested(orderId)).not.toBe(messageIds.paymentResult(orderId))
    expect(messageIds.paymentRequested(crypto.randomUUID())).not.toBe(messageIds.paymentRequested(orderId))
  } finally {
    await sys.stop()
  }
})

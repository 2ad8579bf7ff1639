// One order's spans form one trace, from the gateway's HTTP request through
// orders, its outbox, NATS, payments, NATS again and orders' announcement to
// the gateway's live push; a redelivery is one more span in that same trace.
// The SDK's in-memory exporter records the spans of all three, which run in
// this process (test/support/system.ts).
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { SpanKind, SpanStatusCode } from '@opentelemetry/api'
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace'
import { armFailpoint, disarmAllFailpoints } from '../../shared/failpoints'
import { CONSUMERS, SUBJECTS } from '../../shared/messaging/contracts'
import { startTracing, tracingOn } from '../../shared/tracing'
import { pollUntil } from '../support/poll'
import { openSocket } from '../support/socket'
import { startSystem, type TestSystem } from '../support/system'

const exporter = new InMemorySpanExporter()
let tracing: { shutdown(): Promise<void> } | undefined
let sys: TestSystem

beforeAll(async () => {
  tracing = startTracing('gozon-test', { exporter })
  sys = await startSystem()
})

afterAll(async () => {
  await sys.stop()
  await tracing?.shutdown()
  disarmAllFailpoints()
})

/** Places an order through the gateway, as a client does, with a live socket open; waits for its push. */
async function orderThroughGateway(user: string, amount: number): Promise<{ orderId: string; traceId: string }> {
  await sys.openAccount(user, 1000)
  const token = sys.tokenFor(user)
  const socket = await openSocket(`${sys.gateway.url.replace('http', 'ws')}/api/orders/live`, { authorization: `Bearer ${token}` })
  try {
    const response = await fetch(`${sys.gateway.url}/api/orders`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ amount }),
    })
    expect(response.status).toBe(201)
    const { id: orderId } = (await response.json()) as { id: string }
    await socket.waitFor((m) => m.includes(orderId) && m.includes('FINISHED'))
    const ofThisOrder = (s: ReadableSpan) => s.attributes['gozon.order_id'] === orderId
    const pushed = await pollUntil('the push span', () => exporter.getFinishedSpans().find((s) => s.name === 'live push' && ofThisOrder(s)), Boolean)
    const traceId = pushed!.spanContext().traceId
    return { orderId, traceId }
  } finally {
    socket.close()
  }
}

const scope = (span: ReadableSpan) => span.instrumentationScope.name.replace('gozon.', '')
const spansOfTrace = (traceId: string) => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId)
const parentOf = (span: ReadableSpan, spans: ReadableSpan[]) => spans.find((s) => s.spanContext().spanId === span.parentSpanContext?.spanId)

/** The chain from the trace's root down to `span`, as "component kind name" lines. */
function pathTo(span: ReadableSpan, spans: ReadableSpan[]): string[] {
  const path: string[] = []
  for (let at: ReadableSpan | undefined = span; at; at = parentOf(at, spans)) path.unshift(`${scope(at)} ${SpanKind[at.kind]} ${at.name}`)
  return path
}

test('one order is one trace: gateway → orders → outbox → NATS → payments → NATS → orders → live push', async () => {
  const { orderId, traceId } = await orderThroughGateway('traced', 250)
  const spans = spansOfTrace(traceId)
  const push = spans.find((s) => s.name === 'live push')!
  expect(pathTo(push, spans)).toEqual([
    'gateway SERVER POST /api/orders',
    'orders SERVER POST /api/orders',
    `orders PRODUCER publish ${SUBJECTS.paymentRequested}`,
    `payments CONSUMER process ${SUBJECTS.paymentRequested}`,
    `payments PRODUCER publish ${SUBJECTS.paymentSucceeded}`,
    `orders CONSUMER process ${SUBJECTS.paymentSucceeded}`,
    'gateway CONSUMER live push',
  ])
  // Every hop names the order; the messaging hops name their message.
  for (const span of spans.filter((s) => s.kind !== SpanKind.SERVER || scope(s) === 'orders')) expect(span.attributes['gozon.order_id']).toBe(orderId)
  for (const span of spans.filter((s) => s.kind === SpanKind.PRODUCER || s.kind === SpanKind.CONSUMER).filter((s) => s.name !== 'live push')) {
    expect(String(span.attributes['messaging.message.id'])).toContain(orderId)
  }
  expect(spans.find((s) => scope(s) === 'orders' && s.kind === SpanKind.SERVER)!.attributes['http.response.status_code']).toBe(201)
  // The outbox rows kept the context that the relays continued.
  const [row] = await sys.ordersSql<{ trace_context: string }[]>`select trace_context from outbox where payload->>'orderId' = ${orderId}`
  expect(row!.trace_context).toStartWith(`00-${traceId}-`)
  const [result] = await sys.paymentsSql<{ trace_context: string }[]>`select trace_context from outbox where payload->>'orderId' = ${orderId}`
  expect(result!.trace_context).toStartWith(`00-${traceId}-`)
}, 30_000)

test('a redelivery is one more span in the same trace: the first delivery failed, the second charged', async () => {
  armFailpoint(`${CONSUMERS.payments.durable}.before-commit`)
  const { traceId } = await orderThroughGateway('redelivered', 300)
  const spans = spansOfTrace(traceId)
  const deliveries = spans
    .filter((s) => s.name === `process ${SUBJECTS.paymentRequested}`)
    .sort((a, b) => Number(a.attributes['gozon.delivery_count']) - Number(b.attributes['gozon.delivery_count']))
  expect(deliveries.map((s) => s.attributes['gozon.delivery_count'])).toEqual([1, 2])
  expect(deliveries[0]!.status.code).toBe(SpanStatusCode.ERROR)
  expect(deliveries[1]!.attributes['gozon.outcome']).toBe('handled')
  // Both continue the same publish; the result comes from the second.
  expect(new Set(deliveries.map((d) => parentOf(d, spans)!.name))).toEqual(new Set([`publish ${SUBJECTS.paymentRequested}`]))
  const resultPublish = spans.find((s) => s.name === `publish ${SUBJECTS.paymentSucceeded}`)!
  expect(parentOf(resultPublish, spans)!.spanContext().spanId).toBe(deliveries[1]!.spanContext().spanId)
  expect(pathTo(spans.find((s) => s.name === 'live push')!, spans)).toHaveLength(7)
}, 30_000)

test("a client's traceparent is linked by the gateway, never its parent: the client chooses neither the trace id nor whether it is recorded", async () => {
  const clientTrace = '0af7651916cd43dd8448eb211c80319c'
  const response = await fetch(`${sys.gateway.url}/api/orders`, {
    headers: { authorization: `Bearer ${sys.tokenFor('linked')}`, traceparent: `00-${clientTrace}-b7ad6b7169203331-00` },
  })
  expect(response.status).toBe(200)
  const span = await pollUntil(
    'the gateway span',
    () => exporter.getFinishedSpans().find((s) => scope(s) === 'gateway' && s.links.some((l) => l.context.traceId === clientTrace)),
    Boolean,
  )
  expect(span!.spanContext().traceId).not.toBe(clientTrace)
  expect(span!.parentSpanContext).toBeUndefined()
  // The service's span continues the gateway's trace, not the client's.
  const service = await pollUntil('the orders span', () => spansOfTrace(span!.spanContext().traceId).find((s) => scope(s) === 'orders'), Boolean)
  expect(service!.parentSpanContext?.spanId).toBe(span!.spanContext().spanId)
})

test('with tracing off nothing is recorded and no traceparent is sent on', async () => {
  await tracing?.shutdown()
  expect(tracingOn()).toBe(false)
  const before = exporter.getFinishedSpans().length
  await sys.openAccount('untraced', 1000)
  const orderId = await sys.createOrder('untraced', 100)
  await sys.waitForFinal('untraced', orderId)
  const [row] = await sys.ordersSql<{ trace_context: string | null }[]>`select trace_context from outbox where payload->>'orderId' = ${orderId}`
  expect(row!.trace_context).toBeNull()
  expect(exporter.getFinishedSpans().length).toBe(before)
})

// `bun run trace:demo`: starts Gozon (bun start, throw-away data) with
// OTEL_EXPORTER_OTLP_ENDPOINT pointing at a small collector of its own, pays
// one order through the gateway with a live socket open, and prints that
// order's trace as a tree: which process made each span, its name, when it
// started after the click and how long it took. README, Visibility.
import { spawnGozon } from '../launcher/spawn'

type OtlpSpan = {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  startTimeUnixNano: string
  endTimeUnixNano: string
  attributes: { key: string; value: { stringValue?: string; intValue?: string } }[]
}
type Otlp = { resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { spans: OtlpSpan[] }[] }[] }
type Received = OtlpSpan & { service: string }

const received: Received[] = []
const collector = Bun.serve({
  hostname: '127.0.0.1',
  port: 0,
  async fetch(request) {
    const body = (await request.json()) as Otlp
    for (const rs of body.resourceSpans) {
      const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '?'
      for (const ss of rs.scopeSpans) for (const span of ss.spans) received.push({ ...span, service })
    }
    return Response.json({})
  },
})

const gozon = await spawnGozon({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collector.port}` } })
try {
  const base = gozon.state.gatewayUrl
  const json = { 'content-type': 'application/json' }
  const credentials = JSON.stringify({ username: `tracer${Date.now()}`, password: 'correct horse battery' })
  await fetch(`${base}/api/auth/users`, { method: 'POST', headers: json, body: credentials })
  const { accessToken } = (await (await fetch(`${base}/api/auth/token`, { method: 'POST', headers: json, body: credentials })).json()) as {
    accessToken: string
  }
  const user = { ...json, authorization: `Bearer ${accessToken}` }
  await fetch(`${base}/api/payments/account`, { method: 'POST', headers: user })
  await fetch(`${base}/api/payments/account/top-up`, { method: 'POST', headers: user, body: JSON.stringify({ amount: 1000 }) })
  const socket = new WebSocket(`${base.replace('http', 'ws')}/api/orders/live`, { headers: { authorization: `Bearer ${accessToken}` } } as unknown as string[])
  await new Promise((resolve) => socket.addEventListener('open', resolve))
  const pushed = new Promise((resolve) => socket.addEventListener('message', resolve))
  const order = (await (await fetch(`${base}/api/orders`, { method: 'POST', headers: user, body: JSON.stringify({ amount: 250 }) })).json()) as { id: string }
  await pushed
  socket.close()
  // Each process exports in batches (every 5 s by default): wait for the whole trace.
  const orderOf = (s: OtlpSpan) => s.attributes.find((a) => a.key === 'gozon.order_id')?.value.stringValue
  let trace: Received[] = []
  for (let i = 0; i < 150; i++) {
    const push = received.find((s) => s.name === 'live push' && orderOf(s) === order.id)
    trace = push ? received.filter((s) => s.traceId === push.traceId) : []
    if (trace.length >= 7) break
    await Bun.sleep(100)
  }
  if (trace.length === 0) throw new Error('no trace arrived')
  const start = Math.min(...trace.map((s) => Number(BigInt(s.startTimeUnixNano) / 1000n)))
  const ms = (nano: string) => Number(BigInt(nano) / 1000n) / 1000
  const lines: string[] = [`trace ${trace[0]!.traceId}, order ${order.id}`]
  const print = (span: Received, depth: number) => {
    const at = (ms(span.startTimeUnixNano) - start / 1000).toFixed(1)
    const took = (ms(span.endTimeUnixNano) - ms(span.startTimeUnixNano)).toFixed(1)
    lines.push(`${'  '.repeat(depth)}${span.service.padEnd(9)} ${span.name.padEnd(44 - 2 * depth)} +${at.padStart(6)} ms  ${took.padStart(6)} ms`)
    for (const child of trace.filter((s) => s.parentSpanId === span.spanId).sort((a, b) => ms(a.startTimeUnixNano) - ms(b.startTimeUnixNano)))
      print(child, depth + 1)
  }
  for (const root of trace.filter((s) => !trace.some((p) => p.spanId === s.parentSpanId))) print(root, 0)
  console.log(lines.join('\n'))
} finally {
  await gozon.stop()
  collector.stop(true)
}

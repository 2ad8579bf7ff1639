// What the system does while a part of it is down.
import { expect, test } from 'bun:test'
import { pollUntil } from '../support/poll'
import { startSystem } from '../support/system'

test('orders placed while payments is not consuming wait in the stream and are paid once it is back', async () => {
  const sys = await startSystem({ paymentsConsumer: false })
  try {
    await sys.openAccount('patient', 1000)
    const ids = await Promise.all([1, 2, 3].map(() => sys.createOrder('patient', 300)))
    // The requests did reach the stream, and with no one consuming them the orders stay NEW.
    await pollUntil(
      'the 3 payment requests in the stream',
      () => sys.streamMessages('paymentRequests'),
      (n) => n === 3,
    )
    for (const id of ids) expect((await sys.api('GET', `/api/orders/${id}`, { user: 'patient' })).body.status).toBe('NEW')

    sys.payments.consumer.start()
    const finals = await Promise.all(ids.map((id) => sys.waitForFinal('patient', id)))
    expect(finals.map((o) => o.status)).toEqual(['FINISHED', 'FINISHED', 'FINISHED'])
    expect(await sys.balance('patient')).toBe(100)
  } finally {
    await sys.stop()
  }
})

test('health turns 503 and names NATS when the broker is gone; the gateway reports which service is down', async () => {
  const sys = await startSystem()
  try {
    expect((await fetch(`${sys.orders.url}/health`)).status).toBe(200)
    await sys.nats.stop()
    const orders = await fetch(`${sys.orders.url}/health`)
    expect(orders.status).toBe(503)
    expect(await orders.json()).toMatchObject({ error: 'service_unavailable', details: { database: 'up', nats: 'down' } })
    const gateway = await sys.api('GET', '/health')
    expect(gateway.status).toBe(503)
    expect(gateway.body.details).toEqual({ orders: 'down', payments: 'down', nats: 'down', database: 'up' })
  } finally {
    await sys.stop()
  }
})

test('the gateway answers 502 upstream_unavailable when a service cannot be reached, 504 upstream_timeout when it does not answer in time', async () => {
  const sys = await startSystem()
  // A service that accepts connections and never answers.
  const silent = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const slowGateway = await sys.startAnotherGateway({ payments: { name: 'payments', baseUrl: `http://127.0.0.1:${silent.port}` }, upstreamTimeoutMs: 300 })
  try {
    const slow = await fetch(`${slowGateway.url}/api/payments/account`, { headers: { authorization: `Bearer ${sys.tokenFor('someone')}` } })
    expect(slow.status).toBe(504)
    const timeout = (await slow.json()) as { error: string; message: string }
    expect(timeout.error).toBe('upstream_timeout')
    expect(timeout.message).toContain('A read can simply be retried')
    await sys.payments.stop()
    const response = await sys.api('GET', '/api/payments/account', { user: 'someone' })
    expect(response.status).toBe(502)
    expect(response.body.error).toBe('upstream_unavailable')
  } finally {
    await slowGateway.stop()
    silent.stop(true)
    await sys.stop()
  }
})

import { describe, expect, test } from 'bun:test'
import { loadGatewayConfig } from '../../gateway/config'
import { loadOrdersConfig } from '../../orders/config'
import { loadPaymentsConfig } from '../../payments/config'
import { ConfigError } from '../../shared/config'

describe('configuration', () => {
  test('defaults work on one machine', () => {
    const orders = loadOrdersConfig({})
    expect(orders.port).toBe(3001)
    expect(orders.host).toBe('127.0.0.1')
    expect(orders.databaseUrl).toBe('postgres://gozon:gozon@127.0.0.1:5433/gozon_orders')
    expect(orders.natsUrl).toBe('nats://127.0.0.1:4223')
    expect(loadPaymentsConfig({}).databaseUrl).toEndWith('/gozon_payments')
    expect(loadGatewayConfig({}).ordersUrl).toBe('http://127.0.0.1:3001')
  })

  test('reads overrides', () => {
    const config = loadPaymentsConfig({ PAYMENTS_PORT: '4000', CONSUMER_MAX_DELIVER: '7', NATS_DUPLICATE_WINDOW_MS: '5000' })
    expect(config.port).toBe(4000)
    expect(config.messaging.maxDeliver).toBe(7)
    expect(config.consumer.maxDeliver).toBe(7)
    expect(config.messaging.duplicateWindowMs).toBe(5000)
  })

  test('reports every problem at once', () => {
    let error: unknown
    try {
      loadOrdersConfig({ ORDERS_PORT: 'eighty', ORDERS_DATABASE_URL: 'mysql://x/y', LOG_LEVEL: 'loud', RELAY_BATCH_SIZE: '0' })
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(ConfigError)
    const problems = (error as ConfigError).problems
    expect(problems).toHaveLength(4)
    expect(problems.join('\n')).toContain('ORDERS_PORT')
    expect(problems.join('\n')).toContain('ORDERS_DATABASE_URL')
    expect(problems.join('\n')).toContain('LOG_LEVEL')
    expect(problems.join('\n')).toContain('RELAY_BATCH_SIZE')
  })
})

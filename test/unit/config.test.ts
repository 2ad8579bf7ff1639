import { describe, expect, test } from 'bun:test'
import { loadGatewayConfig } from '../../gateway/config'
import { loadOrdersConfig } from '../../orders/config'
import { loadPaymentsConfig } from '../../payments/config'
import { ConfigError } from '../../shared/config'

/** The keys `bun start` generates; everything else has a default. */
const KEYS = { IDENTITY_PROOF_KEY: 'k'.repeat(32), SESSION_SIGNING_KEY: 's'.repeat(32) }

describe('configuration', () => {
  test('defaults work on one machine', () => {
    const orders = loadOrdersConfig(KEYS)
    expect(orders.port).toBe(3001)
    expect(orders.host).toBe('127.0.0.1')
    expect(orders.databaseUrl).toBe('postgres://gozon:gozon@127.0.0.1:5433/gozon_orders')
    expect(orders.natsUrl).toBe('nats://127.0.0.1:4223')
    expect(orders.identity).toEqual({ proofKey: KEYS.IDENTITY_PROOF_KEY, devTrustUserIdHeader: false })
    expect(loadPaymentsConfig(KEYS).databaseUrl).toEndWith('/gozon_payments')
    const gateway = loadGatewayConfig(KEYS)
    expect(gateway.ordersUrl).toBe('http://127.0.0.1:3001')
    expect(gateway.databaseUrl).toEndWith('/gozon_identity')
    expect(gateway.auth.hashing).toEqual({ memoryCost: 19_456, timeCost: 2 })
    expect(gateway.currency).toBe('EUR')
  })

  test('the shop’s currency is an ISO 4217 code with two decimals', () => {
    expect(loadGatewayConfig({ ...KEYS, CURRENCY: 'USD' }).currency).toBe('USD')
    expect(() => loadGatewayConfig({ ...KEYS, CURRENCY: 'JPY' })).toThrow(/CURRENCY must be a currency with two decimals .*JPY has 0/)
    expect(() => loadGatewayConfig({ ...KEYS, CURRENCY: 'euro' })).toThrow(/CURRENCY must be an ISO 4217 currency code/)
    expect(() => loadGatewayConfig({ ...KEYS, CURRENCY: 'XYZ' })).toThrow(/CURRENCY must be an ISO 4217 currency code/)
  })

  test('signing keys carry ids; keys that only verify are "id:key,…"', () => {
    const plain = loadGatewayConfig(KEYS).auth
    expect(plain.sessionKey.id).toMatch(/^[A-Za-z0-9_-]{8}$/)
    expect(plain.verifyKeys).toEqual([])
    const rotating = loadGatewayConfig({
      ...KEYS,
      SESSION_SIGNING_KEY_ID: '2026-12',
      SESSION_VERIFY_KEYS: `2026-06:${'o'.repeat(32)}, 2026-01:${'p'.repeat(32)}`,
    }).auth
    expect(rotating.sessionKey).toEqual({ id: '2026-12', secret: KEYS.SESSION_SIGNING_KEY })
    expect(rotating.verifyKeys).toEqual([
      { id: '2026-06', secret: 'o'.repeat(32) },
      { id: '2026-01', secret: 'p'.repeat(32) },
    ])
    expect(() => loadGatewayConfig({ ...KEYS, SESSION_VERIFY_KEYS: 'no-colon-here' })).toThrow(/SESSION_VERIFY_KEYS must be/)
    expect(() => loadGatewayConfig({ ...KEYS, SESSION_VERIFY_KEYS: 'old:short' })).toThrow(/SESSION_VERIFY_KEYS must be/)
    expect(() => loadGatewayConfig({ ...KEYS, SESSION_SIGNING_KEY_ID: 'a.b' })).toThrow(/SESSION_SIGNING_KEY_ID must be/)
    expect(() => loadGatewayConfig({ ...KEYS, SESSION_SIGNING_KEY_ID: 'same', SESSION_VERIFY_KEYS: `same:${'o'.repeat(32)}` })).toThrow(/again/)
  })

  test('identity needs its keys, or the explicit development mode', () => {
    expect(() => loadOrdersConfig({})).toThrow(/IDENTITY_PROOF_KEY is required/)
    expect(() => loadOrdersConfig({ IDENTITY_PROOF_KEY: 'short' })).toThrow(/at least 32 characters/)
    expect(() => loadGatewayConfig({ IDENTITY_PROOF_KEY: KEYS.IDENTITY_PROOF_KEY })).toThrow(/SESSION_SIGNING_KEY is required/)
    expect(() => loadOrdersConfig({ DEV_TRUST_USER_ID_HEADER: 'maybe' })).toThrow(/DEV_TRUST_USER_ID_HEADER must be true or false/)
    expect(loadOrdersConfig({ DEV_TRUST_USER_ID_HEADER: 'true' }).identity).toEqual({ proofKey: undefined, devTrustUserIdHeader: true })
  })

  test('reads overrides', () => {
    const config = loadPaymentsConfig({ ...KEYS, PAYMENTS_PORT: '4000', CONSUMER_MAX_DELIVER: '7', NATS_DUPLICATE_WINDOW_MS: '5000' })
    expect(config.port).toBe(4000)
    expect(config.messaging.maxDeliver).toBe(7)
    expect(config.consumer.maxDeliver).toBe(7)
    expect(config.messaging.duplicateWindowMs).toBe(5000)
  })

  test('reports every problem at once', () => {
    let error: unknown
    try {
      loadOrdersConfig({ ...KEYS, ORDERS_PORT: 'eighty', ORDERS_DATABASE_URL: 'mysql://x/y', LOG_LEVEL: 'loud', RELAY_BATCH_SIZE: '0' })
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

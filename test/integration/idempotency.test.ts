// Idempotency-Key on order creation and top-up: retries and double submits
// never create two orders or two top-ups.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { topUp } from '../../payments/accounts'
import { AppError } from '../../shared/errors'
import { claimIdempotencyKey, type IdempotencyLimits, idempotent } from '../../shared/http/idempotency'
import { startSystem, type TestSystem } from '../support/system'

let sys: TestSystem
beforeAll(async () => {
  sys = await startSystem()
  await sys.openAccount('ida', 10_000)
})
afterAll(() => sys.stop())

const withKey = (key: string) => ({ 'idempotency-key': key })

async function count(table: 'orders' | 'ledger', user: string): Promise<number> {
  const [row] =
    table === 'orders'
      ? await sys.ordersSql`select count(*)::int as n from orders where user_id = ${user}`
      : await sys.paymentsSql`select count(*)::int as n from ledger_entries where user_id = ${user} and kind = 'top_up'`
  return row!.n
}

describe('POST /api/orders with Idempotency-Key', () => {
  test('the same key and body replay the first response and create nothing more', async () => {
    const first = await sys.api('POST', '/api/orders', { user: 'ida', body: { amount: 100, description: 'x' }, headers: withKey('order-1') })
    expect(first.status).toBe(201)
    const again = await sys.api('POST', '/api/orders', { user: 'ida', body: { amount: 100, description: 'x' }, headers: withKey('order-1') })
    expect(again.status).toBe(201)
    expect(again.body).toEqual(first.body)
    expect(again.headers.get('idempotent-replayed')).toBe('true')
    expect(await count('orders', 'ida')).toBe(1)
  })

  test('the same key with a different body is refused', async () => {
    await sys.api('POST', '/api/orders', { user: 'ida', body: { amount: 5 }, headers: withKey('order-2') })
    const other = await sys.api('POST', '/api/orders', { user: 'ida', body: { amount: 6 }, headers: withKey('order-2') })
    expect(other.status).toBe(422)
    expect(other.body.error).toBe('idempotency_key_reused')
  })

  test('keys are per user: another user may use the same key', async () => {
    await sys.openAccount('ivo', 100)
    const mine = await sys.api('POST', '/api/orders', { user: 'ivo', body: { amount: 5 }, headers: withKey('order-1') })
    expect(mine.status).toBe(201)
    expect(mine.body.userId).toBe('ivo')
  })

  test('a burst of double submits creates one order; the others replay it or are told it is in flight', async () => {
    const before = await count('orders', 'ida')
    const results = await Promise.all(
      Array.from({ length: 10 }, () => sys.api('POST', '/api/orders', { user: 'ida', body: { amount: 7 }, headers: withKey('burst') })),
    )
    expect(await count('orders', 'ida')).toBe(before + 1)
    const created = results.filter((r) => r.status === 201)
    expect(created.length).toBeGreaterThanOrEqual(1)
    expect(new Set(created.map((r) => r.body.id)).size).toBe(1)
    for (const r of results.filter((r) => r.status !== 201)) {
      expect(r.status).toBe(409)
      expect(r.body.error).toBe('idempotency_key_in_flight')
    }
  })

  test.each([
    ['empty', ''],
    ['too long', 'k'.repeat(256)],
    ['not printable ASCII', 'clé'],
  ])('a malformed key (%s) is a 400 and creates nothing', async (_name, key) => {
    const before = await count('orders', 'ida')
    const response = await fetch(`${sys.gateway.url}/api/orders`, {
      method: 'POST',
      headers: { ...sys.bearer('ida'), 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify({ amount: 5 }),
    })
    expect(response.status).toBe(400)
    expect((await response.json()).error).toBe('invalid_idempotency_key')
    expect(await count('orders', 'ida')).toBe(before)
  })
})

describe('POST /api/payments/account/top-up with Idempotency-Key', () => {
  test('a retried top-up adds the money once', async () => {
    const first = await sys.api('POST', '/api/payments/account/top-up', { user: 'ida', body: { amount: 250 }, headers: withKey('top-1') })
    const again = await sys.api('POST', '/api/payments/account/top-up', { user: 'ida', body: { amount: 250 }, headers: withKey('top-1') })
    expect(first.status).toBe(200)
    expect(again).toMatchObject({ status: 200, body: first.body })
    expect(await count('ledger', 'ida')).toBe(2) // the account's first top-up and this one
  })

  test('an error is replayed too, so a retry does not half-succeed later', async () => {
    const first = await sys.api('POST', '/api/payments/account/top-up', { user: 'nobody', body: { amount: 1 }, headers: withKey('top-2') })
    expect(first.status).toBe(404)
    await sys.openAccount('nobody')
    const again = await sys.api('POST', '/api/payments/account/top-up', { user: 'nobody', body: { amount: 1 }, headers: withKey('top-2') })
    expect(again).toMatchObject({ status: 404, body: { error: 'account_not_found' } })
    expect(await sys.balance('nobody')).toBe(0)
  })
})

describe('a request stalled past the takeover and its retry: only one commits', () => {
  // Short limits, so the test stalls for a second, not a minute. The work limit
  // is set high where the fence alone must stop the stalled request.
  const headers = (key: string) => new Headers({ 'idempotency-key': key })
  const topUpOnce = (key: string, limits: IdempotencyLimits, gate?: Promise<void>) =>
    idempotent(
      sys.payments.db,
      { headers: headers(key), userId: 'fence', route: 'POST /api/payments/account/top-up', body: { amount: 100 } },
      200,
      async (tx) => {
        const done = await topUp(tx, 'fence', 100)
        await gate // the stall: a frozen database, a starved pool, a lock wait
        return done
      },
      limits,
    )
  const topUps = async () => (await sys.paymentsSql`select count(*)::int as n from ledger_entries where user_id = 'fence' and kind = 'top_up'`)[0]!.n

  beforeAll(() => sys.openAccount('fence'))

  test('stalled before recording its response: the retry takes over, the stalled one is rolled back', async () => {
    const limits: IdempotencyLimits = { workLimitMs: 60_000, takeoverAfterMs: 300 }
    let resume!: () => void
    const stalled = topUpOnce('fence-1', limits, new Promise<void>((r) => (resume = r))).then(
      (ok) => ({ ok }),
      (error: unknown) => ({ error }),
    )
    await Bun.sleep(500) // past the takeover
    // The retry takes the claim over; its own top-up then waits for the account row the stalled one holds.
    const retry = topUpOnce('fence-1', limits)
    await Bun.sleep(200)
    resume()
    const first = await stalled
    expect('error' in first && first.error instanceof AppError && first.error.code).toBe('idempotency_claim_lost')
    expect((await retry).replayed).toBe(false)
    expect(await topUps()).toBe(1)
    expect(await sys.balance('fence')).toBe(100)
    // The key now answers with the retry's outcome.
    const again = await topUpOnce('fence-1', limits)
    expect(again).toMatchObject({ replayed: true, status: 200, body: { balance: 100 } })
  })

  test('stalled after recording its response, before commit: the retry waits for it and replays it', async () => {
    const limits: IdempotencyLimits = { workLimitMs: 60_000, takeoverAfterMs: 300 }
    const before = await sys.balance('fence')
    const route = 'POST /api/payments/account/top-up'
    const claim = await claimIdempotencyKey(sys.payments.db, { userId: 'fence', key: 'fence-2', route, body: { amount: 100 } }, limits)
    if (claim.replay) throw new Error('a fresh key replayed')
    let resume!: () => void
    const gate = new Promise<void>((r) => (resume = r))
    // The first request's transaction: work and response written, then frozen before its commit.
    const stalled = sys.payments.db.transaction(async (tx) => {
      const done = await topUp(tx, 'fence', 100)
      await claim.complete(tx, 200, done)
      await gate
      return done
    })
    await Bun.sleep(400) // past the takeover
    let retried = false
    const retry = topUpOnce('fence-2', limits).finally(() => (retried = true))
    await Bun.sleep(300)
    expect(retried).toBe(false) // waiting on the claim row the first request holds
    resume()
    const first = await stalled
    expect(await retry).toMatchObject({ replayed: true, status: 200, body: first })
    expect(await sys.balance('fence')).toBe(before + 100)
  })

  test('stalled past the work limit: rolled back and the claim released, so the retry does the work once', async () => {
    const limits: IdempotencyLimits = { workLimitMs: 200, takeoverAfterMs: 60_000 }
    const before = await topUps()
    const stalled = await topUpOnce('fence-3', limits, Bun.sleep(400)).catch((error: unknown) => error)
    expect(stalled instanceof AppError && stalled.code).toBe('idempotency_claim_lost')
    expect(await topUps()).toBe(before)
    const retry = await topUpOnce('fence-3', limits)
    expect(retry.replayed).toBe(false)
    expect(await topUps()).toBe(before + 1)
  })
})

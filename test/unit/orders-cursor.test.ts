import { expect, test } from 'bun:test'
import { decodeCursor, encodeCursor } from '../../orders/service'
import { backoffMs } from '../../shared/backoff'
import { AppError } from '../../shared/errors'
import { nakDelayMs } from '../../shared/messaging/inbox-consumer'

test('a cursor round-trips', () => {
  const order = { createdAt: '2026-11-22T03:42:39.180Z', id: '01a20159-4c4b-7527-8180-c65e8ccf556a' }
  const decoded = decodeCursor(encodeCursor(order))
  expect(decoded.createdAt.toISOString()).toBe(order.createdAt)
  expect(decoded.id).toBe(order.id)
})

test.each(['', 'bm9wZQ', Buffer.from('["yesterday","x"]').toString('base64url'), Buffer.from('{}').toString('base64url')])(
  'a forged cursor %p is invalid_cursor',
  (cursor) => {
    expect(() => decodeCursor(cursor)).toThrow(AppError)
  },
)

test('redelivery back-off grows, is capped, and is jittered to 50-100 % of the planned wait (shared/backoff.ts)', () => {
  const most = () => 1
  expect([1, 2, 5, 50].map((n) => nakDelayMs(n, most))).toEqual([250, 500, 4000, 60_000])
  expect([1, 2, 5, 50].map((n) => nakDelayMs(n, () => 0))).toEqual([125, 250, 2000, 30_000])
  const spread = new Set(Array.from({ length: 200 }, () => nakDelayMs(3)))
  expect([...spread].every((ms) => ms >= 500 && ms <= 1000)).toBe(true)
  expect(spread.size).toBeGreaterThan(50) // a crowd that failed together does not come back together
  expect(backoffMs(1_000_000, { baseMs: 100, maxMs: 2000 }, most)).toBe(2000)
})

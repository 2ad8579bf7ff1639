import { expect, test } from 'bun:test'
import { decodeCursor, encodeCursor } from '../../orders/service'
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

test('redelivery back-off grows and is capped', () => {
  expect(nakDelayMs(1)).toBe(250)
  expect(nakDelayMs(2)).toBe(500)
  expect(nakDelayMs(5)).toBe(4000)
  expect(nakDelayMs(50)).toBe(60_000)
})

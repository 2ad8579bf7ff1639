import { describe, expect, test } from 'bun:test'
import { dirname, join } from 'node:path'
import { decodeMessage, PoisonMessageError, SUBJECTS } from '../../shared/messaging/contracts'

const bytes = (value: unknown) => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value))
const orderId = '01a20159-4c4b-7527-8180-c65e8ccf556a'

describe('decodeMessage', () => {
  test('accepts a valid PaymentRequested', () => {
    const message = decodeMessage([SUBJECTS.paymentRequested], SUBJECTS.paymentRequested, bytes({ orderId, userId: 'u', amount: 1 }))
    expect(message).toEqual({ subject: SUBJECTS.paymentRequested, payload: { orderId, userId: 'u', amount: 1 } })
  })

  test.each([
    ['not JSON', '{', 'not valid UTF-8 JSON'],
    ['invalid UTF-8', new Uint8Array([0x7b, 0xff, 0x7d]), 'not valid UTF-8 JSON'],
    ['a string amount', { orderId, userId: 'u', amount: '1' }, '/amount'],
    ['a zero amount', { orderId, userId: 'u', amount: 0 }, '/amount'],
    ['an amount over 10^12', { orderId, userId: 'u', amount: 1e12 + 1 }, '/amount'],
    ['a malformed order id', { orderId: 'x', userId: 'u', amount: 1 }, '/orderId'],
    ['a malformed user id', { orderId, userId: 'a b', amount: 1 }, '/userId'],
    ['an extra field', { orderId, userId: 'u', amount: 1, more: true }, '/more'],
  ])('rejects %s', (_name, payload, reason) => {
    const data = payload instanceof Uint8Array ? payload : bytes(payload)
    expect(() => decodeMessage([SUBJECTS.paymentRequested], SUBJECTS.paymentRequested, data)).toThrow(PoisonMessageError)
    expect(() => decodeMessage([SUBJECTS.paymentRequested], SUBJECTS.paymentRequested, data)).toThrow(reason)
  })

  test('rejects a subject the consumer does not expect', () => {
    expect(() => decodeMessage([SUBJECTS.paymentSucceeded], SUBJECTS.paymentRequested, bytes({}))).toThrow('unexpected subject')
  })

  test('a PaymentFailed needs a known reason', () => {
    const ok = { orderId, userId: 'u', amount: 5, reason: 'insufficient_funds' as const }
    expect(decodeMessage([SUBJECTS.paymentFailed], SUBJECTS.paymentFailed, bytes(ok)).payload).toEqual(ok)
    expect(() => decodeMessage([SUBJECTS.paymentFailed], SUBJECTS.paymentFailed, bytes({ ...ok, reason: 'other' }))).toThrow('/reason')
  })
})

test('the message contracts pull in no HTTP framework: publishers and consumers need only TypeBox and the shared rules', async () => {
  const root = join(import.meta.dir, '..', '..')
  const seen = new Set<string>()
  const packages = new Set<string>()
  const visit = async (file: string) => {
    if (seen.has(file)) return
    seen.add(file)
    const source = await Bun.file(file).text()
    for (const [, typeOnly, specifier] of source.matchAll(/^import (type )?[^'"]*['"]([^'"]+)['"]/gm)) {
      if (typeOnly) continue // types vanish at run time
      if (specifier!.startsWith('.')) await visit(`${join(dirname(file), specifier!)}.ts`)
      else packages.add(specifier!)
    }
  }
  await visit(join(root, 'shared', 'messaging', 'contracts.ts'))
  expect([...packages].sort()).toEqual(['@sinclair/typebox', '@sinclair/typebox/compiler', 'node:crypto'])
  expect([...seen].map((f) => f.slice(root.length + 1)).sort()).toEqual(['shared/identity.ts', 'shared/messaging/contracts.ts', 'shared/money.ts'])
})

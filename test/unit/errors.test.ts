// Which failures a service reports as 503 service_unavailable (retry later) rather than 500.
import { describe, expect, test } from 'bun:test'
import { isUnavailable } from '../../shared/http/errors-plugin'

const withCode = (code: string) => Object.assign(new Error(code), { code })
const wrapped = (cause: unknown) => Object.assign(new Error('Failed query: insert into "orders" ...'), { cause })

describe('a dependency that is down is told apart from a bug', () => {
  for (const code of [
    'ECONNREFUSED',
    'ECONNRESET',
    'EPIPE',
    'CONNECTION_CLOSED',
    'CONNECTION_DESTROYED',
    'CONNECT_TIMEOUT',
    'ERR_STREAM_DESTROYED',
    '08006',
    '57P01',
    '57P02',
    '57P03',
    '53300',
  ])
    test(`${code}, directly and as the cause of a Drizzle error`, () => {
      expect(isUnavailable(withCode(code))).toBe(true)
      expect(isUnavailable(wrapped(withCode(code)))).toBe(true)
      expect(isUnavailable(wrapped(wrapped(withCode(code))))).toBe(true)
    })
  for (const code of ['23505', '23514', '42P01', '40001', 'ERR_INVALID_ARG_TYPE'])
    test(`${code} is not`, () => {
      expect(isUnavailable(withCode(code))).toBe(false)
      expect(isUnavailable(wrapped(withCode(code)))).toBe(false)
    })
  test('nor an error without a code, or not an error at all', () => {
    expect(isUnavailable(new Error('boom'))).toBe(false)
    expect(isUnavailable(null)).toBe(false)
    expect(isUnavailable('ECONNREFUSED')).toBe(false)
  })
})

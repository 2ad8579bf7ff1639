// Whose address the per-address sign-in limit counts (shared/http/client-address.ts).
import { expect, test } from 'bun:test'
import { EnvReader } from '../../shared/config'
import { addressGroup, clientAddressOf } from '../../shared/http/client-address'

const server = (peer: string) => ({ requestIP: () => ({ address: peer }) })
const request = (forwarded?: string) => new Request('http://shop/sign-in', { headers: forwarded ? { 'x-forwarded-for': forwarded } : {} })

test('the peer, unless it is a trusted proxy; then the last address it appended', () => {
  const direct = clientAddressOf([])
  expect(direct(server('203.0.113.7'), request('198.51.100.1'))).toBe('203.0.113.7') // a client cannot claim an address
  expect(direct(server('::ffff:127.0.0.1'), request())).toBe('127.0.0.1')
  const behindHaproxy = clientAddressOf(['127.0.0.1'])
  expect(behindHaproxy(server('127.0.0.1'), request('198.51.100.1'))).toBe('198.51.100.1')
  // What the client put in front of HAProxy's own entry is not believed.
  expect(behindHaproxy(server('::ffff:127.0.0.1'), request('10.0.0.1, 198.51.100.1'))).toBe('198.51.100.1')
  expect(behindHaproxy(server('127.0.0.1'), request())).toBe('127.0.0.1')
  expect(behindHaproxy(server('203.0.113.7'), request('10.0.0.1'))).toBe('203.0.113.7') // not from the proxy
  expect(behindHaproxy(null, request('10.0.0.1'))).toBe('unknown')
})

test('TRUSTED_PROXIES lists IP addresses', () => {
  expect(new EnvReader({ TRUSTED_PROXIES: '127.0.0.1, ::1' }).addresses('TRUSTED_PROXIES')).toEqual(['127.0.0.1', '::1'])
  expect(new EnvReader({}).addresses('TRUSTED_PROXIES')).toEqual([])
  const reader = new EnvReader({ TRUSTED_PROXIES: 'localhost' })
  reader.addresses('TRUSTED_PROXIES')
  expect(() => reader.done()).toThrow('TRUSTED_PROXIES must list IP addresses')
})

test('limits count an IPv4 address alone and an IPv6 address by its /64, however it is written', () => {
  expect(addressGroup('203.0.113.9')).toBe('203.0.113.9')
  expect(addressGroup('::ffff:203.0.113.9')).toBe('203.0.113.9')
  expect(addressGroup('2001:db8:0:1::5')).toBe('2001:db8:0:1::/64')
  expect(addressGroup('2001:0DB8:0000:0001:ffff:ffff:ffff:ffff')).toBe('2001:db8:0:1::/64')
  expect(addressGroup('2001:db8:0:1:0:0:0:1%eth0')).toBe('2001:db8:0:1::/64')
  expect(addressGroup('2001:db8::')).toBe('2001:db8:0:0::/64')
  expect(addressGroup('::1')).toBe('0:0:0:0::/64')
  expect(addressGroup('64:ff9b::192.0.2.33')).toBe('192.0.2.33') // NAT64: each IPv4 user behind it is its own
  expect(addressGroup('::ffff:7f00:1')).toBe('127.0.0.1') // IPv4-mapped, in hex
  expect(addressGroup('2001:db8:0:2::5')).not.toBe(addressGroup('2001:db8:0:1::5'))
  // Not an address: its own group, as it is.
  for (const odd of ['unknown', '2001:db8::1::2', '1:2:3:4:5:6:7:8:9', 'fe80::zz']) expect(addressGroup(odd)).toBe(odd)
})

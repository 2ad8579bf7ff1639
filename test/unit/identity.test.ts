// The identity proof (gateway → services) and the gateway's tokens, without a server.
import { describe, expect, test } from 'bun:test'
import { TokenSigner } from '../../gateway/auth/tokens'
import { signIdentity, verifyIdentity } from '../../shared/identity'
import { supportsSyncAlways } from '../../launcher/nats'

const KEY = 'k'.repeat(43)

describe('identity proof', () => {
  test('round-trips user ids with dots, dashes and underscores', () => {
    for (const userId of ['a', 'ann.lee', 'x-y_z.0', '2f1c7e52-5d0b-4a8e-9a55-0b7f7d0b6c1e']) {
      expect(verifyIdentity(KEY, 'orders', signIdentity(KEY, 'orders', userId))).toBe(userId)
    }
  })

  test('is bound to its audience, key and time', () => {
    const now = Date.now()
    const proof = signIdentity(KEY, 'orders', 'ann', now)
    expect(verifyIdentity(KEY, 'payments', proof, now)).toBeUndefined()
    expect(verifyIdentity('o'.repeat(43), 'orders', proof, now)).toBeUndefined()
    expect(verifyIdentity(KEY, 'orders', proof, now + 60_000)).toBe('ann')
    expect(verifyIdentity(KEY, 'orders', proof, now + 60_001)).toBeUndefined()
    expect(verifyIdentity(KEY, 'orders', proof, now - 5_001)).toBeUndefined()
  })

  test('refuses malformed proofs', () => {
    for (const proof of ['', 'v1', 'v1.orders.ann', 'v2.orders.ann.1.sig', 'v1.orders.a b.1.sig', `v1.orders.ann.${'9'.repeat(16)}.sig`]) {
      expect(verifyIdentity(KEY, 'orders', proof)).toBeUndefined()
    }
  })
})

describe('session and API tokens', () => {
  const signer = new TokenSigner(KEY)
  const user = { id: 'u-1', username: 'ann' }

  test('a token verifies as its own kind only', () => {
    const { token } = signer.issue('api', user, 60)
    expect(signer.verify(token, 'api')).toMatchObject({ kind: 'api', userId: 'u-1', username: 'ann' })
    expect(signer.verify(token, 'session')).toBeUndefined()
  })

  test('expiry is reported as such; tampering is not', () => {
    const { token } = signer.issue('api', user, 60, Date.now() - 61_000)
    expect(signer.verify(token, 'api')).toBe('expired')
    const [prefix, payload, signature] = signer.issue('api', user, 60).token.split('.')
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), sub: 'u-2' })).toString('base64url')
    expect(signer.verify(`${prefix}.${forged}.${signature}`, 'api')).toBeUndefined()
    expect(signer.verify('x'.repeat(2000), 'api')).toBeUndefined()
  })

  test('the CSRF token belongs to one session', () => {
    const one = signer.verify(signer.issue('session', user, 60).token, 'session')
    const two = signer.verify(signer.issue('session', user, 60).token, 'session')
    if (typeof one !== 'object' || typeof two !== 'object') throw new Error('tokens did not verify')
    expect(signer.checkCsrf(one, signer.csrfToken(one))).toBe(true)
    expect(signer.checkCsrf(one, signer.csrfToken(two))).toBe(false)
    expect(signer.checkCsrf(one, '')).toBe(false)
  })
})

test('sync_interval: always is used from nats-server 2.10 on', () => {
  expect(supportsSyncAlways('nats-server: v2.9.10')).toBe(false)
  expect(supportsSyncAlways('nats-server: v2.10.0')).toBe(true)
  expect(supportsSyncAlways('nats-server: v2.11.4')).toBe(true)
  expect(supportsSyncAlways('nats-server: v3.0.0')).toBe(true)
  expect(supportsSyncAlways('garbage')).toBe(false)
})

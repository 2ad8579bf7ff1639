// The identity proof (gateway → services) and the gateway's tokens, without a server.
import { describe, expect, test } from 'bun:test'
import { TokenSigner } from '../../gateway/auth/tokens'
import { supportsSyncAlways } from '../../launcher/nats'
import { bodyDigest, ProofReplayCache, signIdentity, verifyIdentity } from '../../shared/identity'

const KEY = 'k'.repeat(43)

describe('identity proof', () => {
  const GET = { method: 'GET', pathAndQuery: '/api/payments/account', bodyDigest: bodyDigest(undefined) }
  const TOP_UP = { method: 'POST', pathAndQuery: '/api/payments/account/top-up', bodyDigest: bodyDigest('{"amount":100}') }

  test('round-trips user ids with dots, dashes and underscores', () => {
    for (const userId of ['a', 'ann.lee', 'x-y_z.0', '2f1c7e52-5d0b-4a8e-9a55-0b7f7d0b6c1e']) {
      expect(verifyIdentity(KEY, 'orders', signIdentity(KEY, 'orders', userId, GET), GET)?.userId).toBe(userId)
    }
  })

  test('is bound to its audience, key and time (15 s)', () => {
    const now = Date.now()
    const proof = signIdentity(KEY, 'orders', 'ann', GET, now)
    expect(verifyIdentity(KEY, 'payments', proof, GET, now)).toBeUndefined()
    expect(verifyIdentity('o'.repeat(43), 'orders', proof, GET, now)).toBeUndefined()
    expect(verifyIdentity(KEY, 'orders', proof, GET, now + 15_000)?.userId).toBe('ann')
    expect(verifyIdentity(KEY, 'orders', proof, GET, now + 15_001)).toBeUndefined()
    expect(verifyIdentity(KEY, 'orders', proof, GET, now - 5_001)).toBeUndefined()
  })

  test('is bound to the request: method, path with query, body', () => {
    const proof = signIdentity(KEY, 'payments', 'ann', TOP_UP)
    expect(verifyIdentity(KEY, 'payments', proof, TOP_UP)?.userId).toBe('ann')
    expect(verifyIdentity(KEY, 'payments', proof, { ...TOP_UP, method: 'PUT' })).toBeUndefined()
    expect(verifyIdentity(KEY, 'payments', proof, { ...TOP_UP, pathAndQuery: '/api/payments/account/top-up?x=1' })).toBeUndefined()
    expect(verifyIdentity(KEY, 'payments', proof, { ...TOP_UP, bodyDigest: bodyDigest('{"amount":1000}') })).toBeUndefined()
    expect(verifyIdentity(KEY, 'payments', signIdentity(KEY, 'payments', 'ann', GET), TOP_UP)).toBeUndefined()
  })

  test('refuses a signature that is not canonical base64url (last character altered)', () => {
    const proof = signIdentity(KEY, 'orders', 'ann', GET)
    const last = proof.at(-1)!
    // 32 bytes in 43 characters: the last one carries 4 spare bits, so some neighbours decode the same.
    for (const other of 'AEIMQUYcgkosw048BFJNRVZdhlptx159') {
      if (other === last) continue
      expect(verifyIdentity(KEY, 'orders', proof.slice(0, -1) + other, GET)).toBeUndefined()
    }
  })

  test('a nonce is accepted once within the proof’s lifetime', () => {
    const replays = new ProofReplayCache()
    const now = Date.now()
    const proof = verifyIdentity(KEY, 'orders', signIdentity(KEY, 'orders', 'ann', GET, now), GET, now)!
    expect(replays.accept(proof, now)).toBe(true)
    expect(replays.accept(proof, now + 1000)).toBe(false)
    const fresh = verifyIdentity(KEY, 'orders', signIdentity(KEY, 'orders', 'ann', GET, now), GET, now)!
    expect(replays.accept(fresh, now + 1000)).toBe(true)
    // Forgotten once no proof issued then could verify any more.
    replays.accept(verifyIdentity(KEY, 'orders', signIdentity(KEY, 'orders', 'bo', GET, now + 30_000), GET, now + 30_000)!, now + 30_000)
    expect(replays.size).toBe(1)
  })

  test('refuses malformed proofs', () => {
    for (const proof of [
      '',
      'v2',
      'v2.orders.ann',
      'v1.orders.ann.1.sig',
      'v2.orders.ann.1.short.sig',
      'v2.orders.a b.1.AAAAAAAAAAAAAAAA.sig',
      `v2.orders.ann.${'9'.repeat(16)}.AAAAAAAAAAAAAAAA.sig`,
    ]) {
      expect(verifyIdentity(KEY, 'orders', proof, GET)).toBeUndefined()
    }
  })
})

describe('session and API tokens', () => {
  const signer = new TokenSigner({ id: 'k1', secret: KEY })
  const user = { id: 'u-1', username: 'ann' }

  test('a token verifies as its own kind only', () => {
    const { token } = signer.issue('api', user, 60)
    expect(signer.verify(token, 'api')).toMatchObject({ kind: 'api', userId: 'u-1', username: 'ann' })
    expect(signer.verify(token, 'session')).toBeUndefined()
  })

  test('expiry is reported as such; tampering is not', () => {
    const { token } = signer.issue('api', user, 60, Date.now() - 61_000)
    expect(signer.verify(token, 'api')).toBe('expired')
    const [prefix, keyId, payload, signature] = signer.issue('api', user, 60).token.split('.')
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), sub: 'u-2' })).toString('base64url')
    expect(signer.verify(`${prefix}.${keyId}.${forged}.${signature}`, 'api')).toBeUndefined()
    expect(signer.verify('x'.repeat(2000), 'api')).toBeUndefined()
  })

  test('keys rotate without signing anyone out: the new key signs, the old one still verifies until it is dropped', () => {
    const old = new TokenSigner({ id: 'k1', secret: KEY })
    const rotated = new TokenSigner({ id: 'k2', secret: 'n'.repeat(32) }, [{ id: 'k1', secret: KEY }])
    const dropped = new TokenSigner({ id: 'k2', secret: 'n'.repeat(32) })
    const before = old.issue('session', user, 60).token
    expect(before.split('.')[1]).toBe('k1')
    const credential = rotated.verify(before, 'session')
    if (typeof credential !== 'object') throw new Error('a token of the retired key did not verify')
    expect(credential.keyId).toBe('k1')
    // Its forms keep working: the CSRF token is made with the key that signed the session.
    expect(rotated.checkCsrf(credential, old.csrfToken(old.verify(before, 'session') as typeof credential))).toBe(true)
    const after = rotated.issue('session', user, 60).token
    expect(after.split('.')[1]).toBe('k2')
    expect(typeof rotated.verify(after, 'session')).toBe('object')
    expect(old.verify(after, 'session')).toBeUndefined()
    expect(dropped.verify(before, 'session')).toBeUndefined()
    // The key id is signed: naming another key does not pass.
    expect(rotated.verify(before.replace('.k1.', '.k2.'), 'session')).toBeUndefined()
    expect(rotated.verify(before.replace('.k1.', '.k9.'), 'session')).toBeUndefined()
    expect(() => new TokenSigner({ id: 'a.b', secret: KEY })).toThrow()
    expect(() => new TokenSigner({ id: 'k1', secret: KEY }, [{ id: 'k1', secret: 'm'.repeat(32) }])).toThrow()
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

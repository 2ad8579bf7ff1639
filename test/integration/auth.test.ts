// Real identity end to end: sign-up and tokens over the API, sign-up and
// sign-in pages with the session cookie, the services' refusal of anything
// but the gateway's proof, CSRF and cross-origin defences, attempt limits,
// the metrics guard, and the development-only X-User-Id mode.
import { afterAll, beforeAll, describe, expect, spyOn, test } from 'bun:test'
import { attemptLimiters, NAME_FACTOR } from '../../gateway/auth/attempts'
import { clientAddressOf } from '../../shared/http/client-address'
import { bodyDigest, signIdentity } from '../../shared/identity'
import { openSocket, UPGRADE_HEADERS } from '../support/socket'
import { randomKey, startSystem, type TestSystem } from '../support/system'

let sys: TestSystem
beforeAll(async () => {
  sys = await startSystem()
})
afterAll(() => sys.stop())

const PASSWORD = 'correct horse battery staple'

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${sys.gateway.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  return { status: response.status, headers: response.headers, body: (await response.json().catch(() => undefined)) as Record<string, unknown> }
}

/** A user created through the API and its bearer token. */
async function apiUser(username: string) {
  const created = await post('/api/auth/users', { username, password: PASSWORD })
  expect(created.status).toBe(201)
  const token = await post('/api/auth/token', { username, password: PASSWORD })
  expect(token.status).toBe(200)
  return { id: created.body.id as string, token: token.body.accessToken as string }
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

describe('the identity API', () => {
  test('sign-up stores an argon2id hash, never the password; names are case-insensitive', async () => {
    const created = await post('/api/auth/users', { username: 'Quinn', password: PASSWORD })
    expect(created.status).toBe(201)
    expect(created.body).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), username: 'quinn' })
    const [row] = await sys.identityDb.$client`select username, password_hash from users where id = ${created.body.id as string}`
    expect(row!.password_hash).toStartWith('$argon2id$')
    expect(row!.password_hash).not.toContain(PASSWORD)
    expect(await post('/api/auth/users', { username: 'QUINN', password: 'another password' })).toMatchObject({
      status: 409,
      body: { error: 'username_taken' },
    })
  })

  test.each([
    ['a short name', { username: 'ab', password: PASSWORD }, 422, 'validation_failed'],
    ['a name with a space', { username: 'a b c', password: PASSWORD }, 422, 'validation_failed'],
    ['a short password', { username: 'shorty', password: 'seven77' }, 422, 'validation_failed'],
    ['a password over 128 characters', { username: 'longpw', password: 'p'.repeat(129) }, 422, 'validation_failed'],
    ['an extra field', { username: 'extra', password: PASSWORD, userId: 'admin' }, 422, 'validation_failed'],
    ['a number for a name', { username: 42, password: PASSWORD }, 422, 'validation_failed'],
    ['malformed JSON', '{"username": "x"', 400, 'invalid_json'],
  ])('sign-up with %s is refused (%i %s) and creates no user', async (_name, body, status, error) => {
    const [before] = await sys.identityDb.$client`select count(*)::int as n from users`
    expect(await post('/api/auth/users', body)).toMatchObject({ status, body: { error } })
    const [after] = await sys.identityDb.$client`select count(*)::int as n from users`
    expect(after!.n).toBe(before!.n)
  })

  test('sign-up as a form is 415', async () => {
    const r = await post('/api/auth/users', 'username=formy&password=longenough', { 'content-type': 'application/x-www-form-urlencoded' })
    expect(r).toMatchObject({ status: 415, body: { error: 'unsupported_media_type' } })
  })

  test('a token is given for the right password only, and the same answer for an unknown name', async () => {
    await apiUser('rhea')
    const wrong = await post('/api/auth/token', { username: 'rhea', password: 'not the password' })
    const unknown = await post('/api/auth/token', { username: 'nobody-here', password: PASSWORD })
    for (const r of [wrong, unknown]) expect(r).toMatchObject({ status: 401, body: { error: 'invalid_credentials' } })
    const ok = await post('/api/auth/token', { username: 'RHEA', password: PASSWORD })
    expect(ok.status).toBe(200)
    expect(ok.body).toMatchObject({ tokenType: 'Bearer', expiresIn: 3600, username: 'rhea', accessToken: expect.stringMatching(/^gz2\./) })
  })

  test('a token pays an order end to end, as the user id the gateway assigned', async () => {
    const { id, token } = await apiUser('sage')
    const json = { ...bearer(token), 'content-type': 'application/json' }
    expect((await fetch(`${sys.gateway.url}/api/payments/account`, { method: 'POST', headers: json })).status).toBe(201)
    await fetch(`${sys.gateway.url}/api/payments/account/top-up`, { method: 'POST', headers: json, body: JSON.stringify({ amount: 500 }) })
    const order = await post('/api/orders', { amount: 200 }, bearer(token))
    expect(order).toMatchObject({ status: 201, body: { userId: id } })
    expect((await sys.waitForFinal(id, order.body.id as string)).status).toBe('FINISHED')
  })

  test('the gateway drops client-sent identity: a bearer of one user with headers naming another acts as the first', async () => {
    const { id, token } = await apiUser('tess')
    const victim = await apiUser('uma')
    const forged = {
      ...bearer(token),
      'x-user-id': victim.id,
      'gozon-identity': signIdentity('guessed-key-guessed-key-guessed-key', 'orders', victim.id, {
        method: 'POST',
        pathAndQuery: '/api/orders',
        bodyDigest: bodyDigest('{"amount":5}'),
      }),
    }
    const order = await post('/api/orders', { amount: 5 }, forged)
    expect(order).toMatchObject({ status: 201, body: { userId: id } })
    const victimOrders = await fetch(`${sys.gateway.url}/api/orders`, { headers: bearer(victim.token) })
    expect(((await victimOrders.json()) as { items: unknown[] }).items).toHaveLength(0)
  })

  test('401s name the scheme (WWW-Authenticate: Bearer)', async () => {
    const response = await fetch(`${sys.gateway.url}/api/orders`)
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="gozon"')
  })
})

describe('the services trust only the gateway’s proof, for the one request it was made for', () => {
  const path = (service: 'orders' | 'payments') => `/api/${service}${service === 'payments' ? '/account' : ''}`
  const get = (service: 'orders' | 'payments', headers: Record<string, string>) => fetch(`${sys[service].url}${path(service)}`, { headers })
  const key = () => sys.env.IDENTITY_PROOF_KEY!
  const getOrders = { method: 'GET', pathAndQuery: '/api/orders', bodyDigest: bodyDigest(undefined) }

  test('a valid proof is accepted', async () => {
    expect((await get('orders', sys.proofFor('vera', 'orders', { method: 'GET', path: path('orders') }))).status).toBe(200)
    expect((await get('payments', sys.proofFor('vera', 'payments', { method: 'GET', path: path('payments') }))).status).toBe(404) // known caller, no account yet
  })

  test.each([
    ['a bare X-User-Id', () => ({ 'x-user-id': 'vera' })],
    ['a proof made with another key', () => ({ 'gozon-identity': signIdentity('k'.repeat(40), 'orders', 'vera', getOrders) })],
    ['a proof for the payments service', () => ({ 'gozon-identity': signIdentity(key(), 'payments', 'vera', getOrders) })],
    ['a proof older than 15 s', () => ({ 'gozon-identity': signIdentity(key(), 'orders', 'vera', getOrders, Date.now() - 16_000) })],
    ['a proof from the future', () => ({ 'gozon-identity': signIdentity(key(), 'orders', 'vera', getOrders, Date.now() + 60_000) })],
    ['a proof with the user id changed', () => ({ 'gozon-identity': signIdentity(key(), 'orders', 'vera', getOrders).replace('.vera.', '.vero.') })],
    ['a proof for another query', () => ({ 'gozon-identity': signIdentity(key(), 'orders', 'vera', { ...getOrders, pathAndQuery: '/api/orders?limit=1' }) })],
    ['a proof for another method', () => ({ 'gozon-identity': signIdentity(key(), 'orders', 'vera', { ...getOrders, method: 'POST' }) })],
    ['a bearer token (only the gateway reads those)', () => bearer(sys.tokenFor('vera'))],
  ])('%s is refused with 401', async (_name, headers) => {
    const response = await get('orders', headers())
    expect(response.status).toBe(401)
    expect(((await response.json()) as { error: string }).error).toBe('identity_proof_required')
  })

  test('a proof captured from a GET moves no money: refused for a top-up and an order, and not accepted twice', async () => {
    const payments = sys.payments.url
    await fetch(`${payments}/api/payments/account`, {
      method: 'POST',
      headers: sys.proofFor('walt', 'payments', { method: 'POST', path: '/api/payments/account' }),
    })
    const seen = sys.proofFor('walt', 'payments', { method: 'GET', path: '/api/payments/account' })
    expect((await fetch(`${payments}/api/payments/account`, { headers: seen })).status).toBe(200)
    const json = { ...seen, 'content-type': 'application/json' }
    const topUp = await fetch(`${payments}/api/payments/account/top-up`, { method: 'POST', headers: json, body: JSON.stringify({ amount: 1000 }) })
    expect(topUp.status).toBe(401)
    const order = await fetch(`${sys.orders.url}/api/orders`, { method: 'POST', headers: json, body: JSON.stringify({ amount: 1 }) })
    expect(order.status).toBe(401)
    // The exact same request again, within the proof's 15 s: the nonce was used.
    expect((await fetch(`${payments}/api/payments/account`, { headers: seen })).status).toBe(401)
    expect(await sys.balance('walt')).toBe(0)
  })

  test('a proof that moved money is used once across instances: the same order or top-up replayed at another instance is refused', async () => {
    const [orders2, payments2] = await Promise.all([sys.startAnotherInstance('orders'), sys.startAnotherInstance('payments')])
    try {
      await sys.openAccount('xena', 500)
      const send = (base: string, path: string, headers: Record<string, string>, body: string) =>
        fetch(`${base}${path}`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body })
      // A keyless order, captured between the gateway and orders, then replayed through the balancer to the other instance.
      const orderBody = JSON.stringify({ amount: 7 })
      const orderProof = sys.proofFor('xena', 'orders', { method: 'POST', path: '/api/orders', body: orderBody })
      expect((await send(sys.orders.url, '/api/orders', orderProof, orderBody)).status).toBe(201)
      const replayedOrder = await send(orders2.url, '/api/orders', orderProof, orderBody)
      expect(replayedOrder.status).toBe(401)
      expect(((await replayedOrder.json()) as { error: string }).error).toBe('identity_proof_required')
      const [orderCount] = await sys.ordersSql`select count(*)::int as n from orders where user_id = 'xena'`
      expect(orderCount!.n).toBe(1)
      // The same for a keyless top-up: the money is added once.
      const topUpBody = JSON.stringify({ amount: 300 })
      const topUpProof = sys.proofFor('xena', 'payments', { method: 'POST', path: '/api/payments/account/top-up', body: topUpBody })
      expect((await send(sys.payments.url, '/api/payments/account/top-up', topUpProof, topUpBody)).status).toBe(200)
      expect((await send(payments2.url, '/api/payments/account/top-up', topUpProof, topUpBody)).status).toBe(401)
      expect(await sys.waitForFinal('xena', (await sys.ordersSql`select id from orders where user_id = 'xena'`)[0]!.id)).toMatchObject({ status: 'FINISHED' })
      expect(await sys.balance('xena')).toBe(500 + 300 - 7)
      // The order's nonce (v2.<service>.<user>.<time>.<nonce>.<mac>) is remembered once, until its proof expires.
      const nonce = orderProof['gozon-identity']!.split('.').at(-2)!
      const [nonces] = await sys.ordersSql`select count(*)::int as n, bool_and(expires_at > now()) as live from identity_proof_nonces where nonce = ${nonce}`
      expect(nonces).toEqual({ n: 1, live: true })
    } finally {
      await Promise.all([orders2.stop(), payments2.stop()])
    }
  })

  test('a proof for one body is refused with another', async () => {
    const body = JSON.stringify({ amount: 100 })
    const proof = sys.proofFor('walt', 'payments', { method: 'POST', path: '/api/payments/account/top-up', body })
    const other = await fetch(`${sys.payments.url}/api/payments/account/top-up`, {
      method: 'POST',
      headers: { ...proof, 'content-type': 'application/json' },
      body: JSON.stringify({ amount: 100_000 }),
    })
    expect(other.status).toBe(401)
    const same = await fetch(`${sys.payments.url}/api/payments/account/top-up`, {
      method: 'POST',
      headers: { ...proof, 'content-type': 'application/json' },
      body,
    })
    expect(same.status).toBe(200)
    expect(await sys.balance('walt')).toBe(100)
  })
})

describe('pages: sign-up, sign-in, sessions', () => {
  const form = (path: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${sys.gateway.url}${path}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(fields).toString(),
    })
  const cookieOf = (response: Response) => response.headers.get('set-cookie')!.split(';')[0]!

  test('sign-up signs the shopper in with an HttpOnly, SameSite cookie; sign-in needs the password', async () => {
    const up = await form('/sign-up', { username: 'wendy', password: PASSWORD })
    expect(up.status).toBe(303)
    expect(up.headers.get('location')).toBe('/account')
    const [session, device, ...more] = up.headers.getSetCookie()
    expect(session).toMatch(/^gozon_session=gz2\.[^;]+; Path=\/; HttpOnly; SameSite=Lax; Max-Age=604800$/)
    // The browser is remembered as one where wendy signed in (the attempt limits' device cookie), for 90 days.
    expect(device).toMatch(/^gozon_device=gz2\.[^;]+; Path=\/; HttpOnly; SameSite=Lax; Max-Age=7776000$/)
    expect(more).toEqual([])
    const page = await fetch(`${sys.gateway.url}/orders`, { headers: { cookie: cookieOf(up) } })
    expect(page.status).toBe(200)
    expect(await page.text()).toContain('<span class="user" id="current-user">wendy</span>')

    const wrong = await form('/sign-in', { username: 'wendy', password: 'wrong password' }, { 'hx-request': 'true' })
    expect(wrong.status).toBe(401)
    expect(wrong.headers.get('set-cookie')).toBeNull()
    const text = await wrong.text()
    expect(text).toContain('Unknown user name or wrong password.')
    expect(text).not.toContain('wrong password"')
    const ok = await form('/sign-in', { username: 'Wendy', password: PASSWORD })
    expect(ok.status).toBe(303)
    expect(ok.headers.get('location')).toBe('/orders')
  })

  test('expired session rows are deleted, found through the expires_at index rather than by reading the table', async () => {
    const store = sys.gateway.auth.sessions!
    const now = Math.floor(Date.now() / 1000)
    const [expired, live] = [crypto.randomUUID(), crypto.randomUUID()]
    await store.create(expired, 'cleanup-user', now - 60)
    await store.create(live, 'cleanup-user', now + 3600)
    expect(await store.deleteExpired()).toBeGreaterThanOrEqual(1)
    const rows = await sys.identityDb.$client<{ id: string }[]>`select id from sessions where id in (${expired}, ${live})`
    expect(rows.map((r) => r.id)).toEqual([live])
    const plan = await sys.identityDb.$client.begin(async (tx) => {
      await tx`set local enable_seqscan = off`
      return tx.unsafe('explain delete from sessions where expires_at < now()')
    })
    expect(JSON.stringify(plan)).toContain('sessions_expires_at')
  })

  test('sign-up errors are shown next to the fields, and a taken name too', async () => {
    const bad = await form('/sign-up', { username: 'x', password: 'short' }, { 'hx-request': 'true' })
    expect(bad.status).toBe(422)
    const text = await bad.text()
    expect(text).toContain('id="username-error"')
    expect(text).toContain('id="password-error"')
    const taken = await form('/sign-up', { username: 'wendy', password: PASSWORD }, { 'hx-request': 'true' })
    expect(taken.status).toBe(409)
    expect(await taken.text()).toContain('This user name is taken.')
  })

  test('signing out ends the session on the server: a cookie copied before sign-out no longer works, here or at another gateway, at once', async () => {
    const other = await sys.startAnotherGateway()
    try {
      const session = await sys.pageSession('ursula')
      const get = (base: string, path = '/orders') => fetch(`${base}${path}`, { headers: { cookie: session.cookie }, redirect: 'manual' })
      expect((await get(sys.gateway.url)).status).toBe(200)
      expect((await get(other.url)).status).toBe(200) // the other gateway has it cached as live now
      const tab = await openSocket(`${other.url.replace('http', 'ws')}/ws`, { cookie: session.cookie })

      const out = await fetch(`${sys.gateway.url}/sign-out`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie: session.cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ csrfToken: session.csrf }).toString(),
      })
      expect(out.status).toBe(303)
      expect(out.headers.get('set-cookie')).toContain('Max-Age=0')
      const [row] = await sys.identityDb.$client`select count(*)::int as n from sessions where user_id = 'ursula'`
      expect(row!.n).toBe(0)

      // The copied cookie: refused by this gateway, and by the other within the announcement's delivery, not the cache's 5 s.
      expect((await get(sys.gateway.url)).headers.get('location')).toBe('/sign-in?next=%2Forders')
      const started = Date.now()
      while ((await get(other.url)).status !== 303) {
        expect(Date.now() - started).toBeLessThan(1_000)
        await Bun.sleep(20)
      }
      // Its open page socket is closed too, and a new one is told at once that the session ended (4001).
      expect(await tab.closed).toEqual({ code: 4001, reason: 'signed out' })
      const again = await openSocket(`${other.url.replace('http', 'ws')}/ws`, { cookie: session.cookie })
      expect(await again.closed).toEqual({ code: 4001, reason: 'signed out' })
      // A cookie that is not genuine is refused at the handshake.
      expect((await fetch(`${other.url}/ws`, { headers: { ...UPGRADE_HEADERS, cookie: `${session.cookie}x` } })).status).toBe(401)
    } finally {
      await other.stop()
    }
  })

  test('“Sign out everywhere” ends every session of the shopper and no one else’s', async () => {
    const phone = await sys.pageSession('violet')
    const laptop = await sys.pageSession('violet')
    const someoneElse = await sys.pageSession('walter')
    const status = async (s: { cookie: string }) => (await fetch(`${sys.gateway.url}/account`, { headers: { cookie: s.cookie }, redirect: 'manual' })).status
    expect(await status(phone)).toBe(200)
    const account = await (await fetch(`${sys.gateway.url}/account`, { headers: { cookie: laptop.cookie } })).text()
    expect(account).toContain('<form method="post" action="/sign-out-everywhere">')
    const out = await fetch(`${sys.gateway.url}/sign-out-everywhere`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: laptop.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrfToken: laptop.csrf }).toString(),
    })
    expect([out.status, out.headers.get('location')]).toEqual([303, '/sign-in?signed-out=everywhere'])
    expect(await (await fetch(`${sys.gateway.url}/sign-in?signed-out=everywhere`)).text()).toContain('You are signed out on every browser and device.')
    expect([await status(phone), await status(laptop), await status(someoneElse)]).toEqual([303, 303, 200])
    // Without the CSRF token (a page of another site cannot know it), nothing ends.
    const forged = await fetch(`${sys.gateway.url}/sign-out-everywhere`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: someoneElse.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: '',
    })
    expect(forged.status).toBe(403)
    expect(await status(someoneElse)).toBe(200)
  })

  test('a new signing key, the old one kept to verify: signed-in shoppers stay signed in and their forms work; dropped, it signs them out', async () => {
    const session = await sys.pageSession('rotor')
    const apiToken = sys.tokenFor('rotor')
    const old = sys.gateway.auth.settings.sessionKey
    const fresh = { id: 'next-key', secret: randomKey() }
    const rotated = await sys.startAnotherGateway({ auth: { ...sys.gateway.auth.settings, sessionKey: fresh, verifyKeys: [old] } })
    const dropped = await sys.startAnotherGateway({ auth: { ...sys.gateway.auth.settings, sessionKey: fresh, verifyKeys: [] } })
    try {
      const page = (base: string) => fetch(`${base}/orders`, { headers: { cookie: session.cookie }, redirect: 'manual' })
      expect((await page(rotated.url)).status).toBe(200)
      const order = await fetch(`${rotated.url}/orders`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie: session.cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ amount: '1.00', csrfToken: session.csrf }).toString(),
      })
      expect(order.status).toBe(303)
      expect((await fetch(`${rotated.url}/api/orders`, { headers: bearer(apiToken) })).status).toBe(200)
      // What the rotated gateway signs carries the new key's id.
      const signedIn = await fetch(`${rotated.url}/api/auth/users`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'rotor-new', password: PASSWORD }),
      })
      expect(signedIn.status).toBe(201)
      const token = (await (
        await fetch(`${rotated.url}/api/auth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username: 'rotor-new', password: PASSWORD }),
        })
      ).json()) as { accessToken: string }
      expect(token.accessToken.split('.')[1]).toBe('next-key')
      // Once the old key is dropped, what it signed no longer passes.
      expect((await page(dropped.url)).status).toBe(303)
      expect((await fetch(`${dropped.url}/api/orders`, { headers: bearer(apiToken) })).status).toBe(401)
    } finally {
      await rotated.stop()
      await dropped.stop()
    }
  })

  test('a signature spelled another way does not verify (only the canonical base64url)', async () => {
    const { token } = sys.gateway.auth.tokens.issue('api', { id: 'canon', username: 'canon' }, 60)
    expect(typeof sys.gateway.auth.tokens.verify(token, 'api')).toBe('object')
    const last = token.at(-1)!
    // The last character of a 32-byte signature carries 4 spare bits: changing them decodes to the same bytes.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const index = alphabet.indexOf(last)
    const sameBytes = [...alphabet].filter((c, i) => c !== last && i >> 4 === index >> 4)
    expect(sameBytes.length).toBeGreaterThan(0)
    for (const c of sameBytes) {
      expect(Buffer.from(token.slice(0, -1) + c, 'base64url').length).toBeGreaterThan(0)
      expect(sys.gateway.auth.tokens.verify(token.slice(0, -1) + c, 'api')).toBeUndefined()
    }
  })

  test('a forged or altered cookie is no session', async () => {
    const real = (await sys.pageSession('xena')).cookie
    for (const cookie of [`${real}x`, 'gozon_session=gz1.eyJrIjoic2Vzc2lvbiJ9.AAAA', `gozon_session=${sys.tokenFor('xena')}`]) {
      const r = await fetch(`${sys.gateway.url}/orders`, { headers: { cookie }, redirect: 'manual' })
      expect(r.status).toBe(303)
      expect(r.headers.get('location')).toBe('/sign-in?next=%2Forders')
    }
  })
})

describe('CSRF and cross-origin defences', () => {
  const ordersCount = async (user: string) => (await sys.api('GET', '/api/orders', { user })).body.items.length as number
  const postOrder = (session: { cookie: string }, fields: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${sys.gateway.url}/orders`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: session.cookie, 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams({ amount: '1.00', ...fields }).toString(),
    })

  test('a form without the session’s CSRF token is refused (403) and places nothing', async () => {
    const yara = await sys.pageSession('yara')
    const other = await sys.pageSession('yara') // another session of the same user: another token
    for (const fields of [{}, { csrfToken: 'nope' }, { csrfToken: other.csrf }] as Record<string, string>[]) {
      const r = await postOrder(yara, fields)
      expect(r.status).toBe(403)
      expect(await r.text()).toContain('The form is stale or was not sent by this site')
    }
    expect(await ordersCount('yara')).toBe(0)
    expect((await postOrder(yara, { csrfToken: yara.csrf })).status).toBe(303)
    expect(await ordersCount('yara')).toBe(1)
  })

  test('a browser request from another site is refused even with the right token', async () => {
    const zoe = await sys.pageSession('zoe')
    for (const headers of [{ origin: 'http://evil.example' }, { 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }] as Record<
      string,
      string
    >[]) {
      const r = await postOrder(zoe, { csrfToken: zoe.csrf }, headers)
      expect(r.status).toBe(403)
      expect(await r.text()).toContain('Cross-origin request refused')
    }
    const sameOrigin = { origin: sys.gateway.url, 'sec-fetch-site': 'same-origin' }
    expect((await postOrder(zoe, { csrfToken: zoe.csrf }, sameOrigin)).status).toBe(303)
    expect(await ordersCount('zoe')).toBe(1)
    // Login CSRF: the sign-in form checks the origin too.
    const signIn = await fetch(`${sys.gateway.url}/sign-in`, {
      method: 'POST',
      headers: { origin: 'http://evil.example', 'content-type': 'application/x-www-form-urlencoded' },
      body: 'username=zoe&password=whatever1',
    })
    expect(signIn.status).toBe(403)
  })

  test('WebSocket handshakes from another site are refused; expired tokens say so', async () => {
    const page = await fetch(`${sys.gateway.url}/ws`, {
      headers: { ...UPGRADE_HEADERS, cookie: (await sys.pageSession('zoe')).cookie, origin: 'http://evil.example' },
    })
    expect(page.status).toBe(403)
    expect(((await page.json()) as { error: string }).error).toBe('cross_origin_request')
    const expired = sys.gateway.auth.tokens.issue('api', { id: 'zoe', username: 'zoe' }, 60, Date.now() - 120_000).token
    const api = await fetch(`${sys.gateway.url}/api/orders/live`, { headers: { ...UPGRADE_HEADERS, ...bearer(expired) } })
    expect(api.status).toBe(401)
    expect(((await api.json()) as { error: string }).error).toBe('token_expired')
  })
})

describe('limits and operations settings', () => {
  let limited: TestSystem
  beforeAll(async () => {
    limited = await startSystem({
      env: { AUTH_ATTEMPTS_BURST: '3', AUTH_ATTEMPTS_PER_MINUTE: '1', METRICS_TOKEN: 'metrics-token-0123456789', TRUSTED_PROXIES: '127.0.0.1' },
    })
  })
  afterAll(() => limited.stop())

  test('password guessing against one name is slowed down: 429 with Retry-After', async () => {
    const guess = () =>
      fetch(`${limited.gateway.url}/api/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'target', password: 'guess-guess' }),
      })
    const statuses = []
    for (let i = 0; i < 5; i++) statuses.push((await guess()).status)
    expect(statuses).toEqual([401, 401, 401, 429, 429])
    const refused = await guess()
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(((await refused.json()) as { error: string }).error).toBe('rate_limited')
    // The sign-in page draws on the same allowance: no second door.
    const page = await fetch(`${limited.gateway.url}/sign-in`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'username=target&password=guess-guess',
    })
    expect(page.status).toBe(429)
    expect(Number(page.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(await page.text()).toMatch(/Too many attempts\. Try again in (1 second|\d+ seconds)\./)
  })

  test('someone guessing bob’s password does not lock bob out: the guesser is slowed, bob signs in from his own address', async () => {
    // Behind a trusted proxy (TRUSTED_PROXIES), the address is the one it forwards.
    const from = (address: string, password: string) =>
      fetch(`${limited.gateway.url}/api/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': address },
        body: JSON.stringify({ username: 'bob-owner', password }),
      })
    const created = await fetch(`${limited.gateway.url}/api/auth/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': '198.51.100.1' },
      body: JSON.stringify({ username: 'bob-owner', password: PASSWORD }),
    })
    expect(created.status).toBe(201)
    const guesses = []
    for (let i = 0; i < 5; i++) guesses.push((await from('203.0.113.5', `wrong guess ${i}`)).status)
    expect(guesses).toEqual([401, 401, 401, 429, 429])
    // Bob, from his address: the API and the sign-in page.
    expect((await from('198.51.100.7', PASSWORD)).status).toBe(200)
    const page = await fetch(`${limited.gateway.url}/sign-in`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': '198.51.100.8' },
      body: new URLSearchParams({ username: 'bob-owner', password: PASSWORD }).toString(),
    })
    expect(page.status).toBe(303)
    // The guesser's address stays slowed, even with the right password.
    expect((await from('203.0.113.5', PASSWORD)).status).toBe(429)
  })

  test('IPv6 addresses count by their /64: a guesser cannot take a fresh address from its own /64 for each guess', async () => {
    const guesses = []
    for (let i = 1; i <= 5; i++) {
      const r = await fetch(`${limited.gateway.url}/api/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': `2001:db8:7:9::${i.toString(16)}${i % 2 ? '' : ':0'}` },
        body: JSON.stringify({ username: 'six-target', password: `wrong guess ${i}` }),
      })
      guesses.push(r.status)
    }
    expect(guesses).toEqual([401, 401, 401, 429, 429])
    // The next /64 is somebody else.
    const other = await fetch(`${limited.gateway.url}/api/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': '2001:db8:7:a::1' },
      body: JSON.stringify({ username: 'six-target', password: 'wrong guess' }),
    })
    expect(other.status).toBe(401)
  })

  test('when a guess spread over a hundred addresses has emptied the per-name ceiling, the owner still signs in from a browser he used before', async () => {
    const signIn = (address: string, password: string, cookie?: string) =>
      fetch(`${limited.gateway.url}/sign-in`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': address, ...(cookie ? { cookie } : {}) },
        body: new URLSearchParams({ username: 'ceiling-owner', password }).toString(),
      })
    /** Signs `username` up on the page from `address`; the device cookie that browser keeps. */
    const deviceCookieOf = async (username: string, address: string) => {
      const up = await fetch(`${limited.gateway.url}/sign-up`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': address },
        body: new URLSearchParams({ username, password: PASSWORD }).toString(),
      })
      return up.headers
        .getSetCookie()
        .find((c) => c.startsWith('gozon_device='))!
        .split(';')[0]!
    }
    const deviceCookie = await deviceCookieOf('ceiling-owner', '198.51.100.40')
    // Three guesses (the per-pair burst) from each of a hundred addresses: 300, the per-name ceiling.
    const statuses = new Map<number, number>()
    for (let a = 0; a < NAME_FACTOR; a++) {
      const address = `203.0.${113 + Math.floor(a / 250)}.${a % 250}`
      for (let g = 0; g < 3; g++) {
        const status = (await signIn(address, `wrong ${g}`)).status
        statuses.set(status, (statuses.get(status) ?? 0) + 1)
      }
    }
    expect(statuses.get(401)).toBe(3 * NAME_FACTOR)
    // The other name signs up first, so that nothing slow runs once the ceiling is empty.
    const otherDevice = await deviceCookieOf('ceiling-other', '198.51.100.42')
    const forged = `${deviceCookie.slice(0, -1)}${deviceCookie.endsWith('A') ? 'B' : 'A'}`
    // The ceiling refills meanwhile (100 a minute here, one token per 0.6 s): a few more guesses from fresh addresses until it is empty.
    let fresh = 0
    while ((await signIn(`203.0.120.${fresh}`, 'one more guess')).status !== 429) if (++fresh > 50) throw new Error('the per-name ceiling never ran out')
    // Five right passwords at once from fresh addresses, for each kind of browser: at most one can meet a token that refilled meanwhile.
    const burst = async (cookie?: string) => {
      const statuses = await Promise.all([1, 2, 3, 4, 5].map((i) => signIn(`198.51.101.${fresh * 10 + i}`, PASSWORD, cookie).then((r) => r.status)))
      fresh += 1
      return statuses.filter((s) => s === 429).length
    }
    // A browser that never signed in as ceiling-owner waits, from a fresh address too; so does one with another name's cookie, or a forged one.
    expect(await burst()).toBeGreaterThanOrEqual(4)
    expect(await burst(otherDevice)).toBeGreaterThanOrEqual(4)
    expect(await burst(forged)).toBeGreaterThanOrEqual(4)
    // The owner's own browser is let through, from any address, every time (signing out keeps the device cookie).
    const owners = await Promise.all([1, 2, 3].map((i) => signIn(`198.51.102.${i}`, PASSWORD, deviceCookie)))
    expect(owners.map((r) => r.status)).toEqual([303, 303, 303])
    expect(owners[0]!.headers.get('location')).toBe('/orders')
  }, 60_000)

  test('a guess spread over many addresses meets the per-name ceiling, 100 times the per-address-and-name limit', async () => {
    const limits = attemptLimiters(limited.identityDb.$client, { burst: 1, perSecond: 1 / 3600 }, clientAddressOf([]))
    const waits: (number | undefined)[] = []
    for (let i = 0; i < NAME_FACTOR + 1; i++) waits.push(await limits.signIn(`192.0.2.${i % 250}.${Math.floor(i / 250)}`, 'spread-target'))
    expect(waits.slice(0, NAME_FACTOR).every((w) => w === undefined)).toBe(true)
    expect(waits[NAME_FACTOR]).toBeGreaterThan(0)
    // Another name is not affected.
    expect(await limits.signIn('192.0.2.1.0', 'someone-else')).toBeUndefined()
  })

  test('with METRICS_TOKEN the gateway’s /metrics needs it', async () => {
    const refused = await fetch(`${limited.gateway.url}/metrics`)
    expect(refused.status).toBe(401)
    expect(((await refused.json()) as { message: string }).message).toBe('Send Authorization: Bearer <METRICS_TOKEN> to read the metrics')
    const ok = await fetch(`${limited.gateway.url}/metrics`, { headers: bearer('metrics-token-0123456789') })
    expect(ok.status).toBe(200)
    expect(await ok.text()).toContain('gozon_live_sockets')
  })
})

describe('the development mode', () => {
  test('DEV_TRUST_USER_ID_HEADER=true believes X-User-Id, and says so loudly at start', async () => {
    const stderr = spyOn(console, 'error')
    const dev = await startSystem({ env: { DEV_TRUST_USER_ID_HEADER: 'true' } })
    try {
      const warnings = stderr.mock.calls.map((call) => String(call[0])).filter((line) => line.includes('INSECURE DEVELOPMENT MODE'))
      expect(warnings.length).toBe(3) // orders, payments, gateway
      const r = await fetch(`${dev.gateway.url}/api/orders`, {
        method: 'POST',
        headers: { 'x-user-id': 'devuser', 'content-type': 'application/json' },
        body: JSON.stringify({ amount: 5 }),
      })
      expect(r.status).toBe(201)
      expect(((await r.json()) as { userId: string }).userId).toBe('devuser')
    } finally {
      stderr.mockRestore()
      await dev.stop()
    }
  })
})

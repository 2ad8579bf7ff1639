// Every bad input gets a clear 4xx with a stable code, and writes nothing;
// hostile WebSocket handshakes and messages are refused or closed and learn nothing.

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { connect } from 'node:net'
import pino from 'pino'
import { TokenSigner } from '../../gateway/auth/tokens'
import { LIVE_LIMITS } from '../../gateway/live-routes'
import { bodyDigest, signIdentity } from '../../shared/identity'
import { openSocket, UPGRADE_HEADERS } from '../support/socket'
import { randomKey, startSystem, type TestSystem } from '../support/system'

let sys: TestSystem
beforeAll(async () => {
  sys = await startSystem()
  await sys.openAccount('holder', 5000)
})
afterAll(() => sys.stop())

type Case = {
  name: string
  method: string
  path: string
  user?: string
  /** Raw request headers, for cases about credentials (computed once the system is up). */
  headers?: () => Record<string, string> | Promise<Record<string, string>>
  body?: unknown
  contentType?: string
  status: number
  error: string
}

const order = (body: unknown, extra: Partial<Case> = {}): Omit<Case, 'name' | 'status' | 'error'> => ({
  method: 'POST',
  path: '/api/orders',
  user: 'holder',
  body,
  ...extra,
})
const topUp = (body: unknown, extra: Partial<Case> = {}): Omit<Case, 'name' | 'status' | 'error'> => ({
  method: 'POST',
  path: '/api/payments/account/top-up',
  user: 'holder',
  body,
  ...extra,
})

/** The same request without the test's bearer token, with `headers` instead. */
const anonymous = (request: Omit<Case, 'name' | 'status' | 'error'>, headers: () => Record<string, string> | Promise<Record<string, string>>) => ({
  ...request,
  user: undefined,
  headers,
})
/** A genuine token of holder's with one character of its signature changed. */
const tampered = () => {
  const token = sys.tokenFor('holder')
  return token.slice(0, -2) + (token.at(-2) === 'A' ? 'B' : 'A') + token.at(-1)
}

const cases: Case[] = [
  { name: 'order without credentials', ...order({ amount: 5 }, { user: undefined }), status: 401, error: 'unauthorized' },
  {
    name: 'order with only X-User-Id (dev mode is off)',
    ...anonymous(order({ amount: 5 }), () => ({ 'x-user-id': 'holder' })),
    status: 401,
    error: 'unauthorized',
  },
  {
    name: 'order with a client-made Gozon-Identity proof (another key)',
    ...anonymous(order({ amount: 5 }), () => ({
      'gozon-identity': signIdentity(randomKey(), 'orders', 'holder', { method: 'POST', pathAndQuery: '/api/orders', bodyDigest: bodyDigest('{"amount":5}') }),
    })),
    status: 401,
    error: 'unauthorized',
  },
  {
    name: 'order with a tampered bearer token',
    ...anonymous(order({ amount: 5 }), () => ({ authorization: `Bearer ${tampered()}` })),
    status: 401,
    error: 'unauthorized',
  },
  {
    name: 'order with a token signed by another key',
    ...anonymous(order({ amount: 5 }), () => ({
      authorization: `Bearer ${new TokenSigner({ id: 'other', secret: randomKey() }).issue('api', { id: 'holder', username: 'holder' }, 60).token}`,
    })),
    status: 401,
    error: 'unauthorized',
  },
  {
    name: 'order with an expired token',
    ...anonymous(order({ amount: 5 }), () => ({
      authorization: `Bearer ${sys.gateway.auth.tokens.issue('api', { id: 'holder', username: 'holder' }, 60, Date.now() - 3_600_000).token}`,
    })),
    status: 401,
    error: 'token_expired',
  },
  {
    name: 'order with a session cookie token used as a bearer token',
    ...anonymous(order({ amount: 5 }), async () => ({ authorization: `Bearer ${(await sys.pageSession('holder')).cookie.split('=')[1]}` })),
    status: 401,
    error: 'unauthorized',
  },
  {
    name: 'order with a session cookie instead of a token',
    ...anonymous(order({ amount: 5 }), async () => ({ cookie: (await sys.pageSession('holder')).cookie })),
    status: 401,
    error: 'unauthorized',
  },
  {
    name: 'order with Basic credentials',
    ...anonymous(order({ amount: 5 }), () => ({ authorization: 'Basic aG9sZGVyOnB3' })),
    status: 401,
    error: 'unauthorized',
  },
  { name: 'amount as a string', ...order({ amount: '5' }), status: 422, error: 'validation_failed' },
  { name: 'amount zero', ...order({ amount: 0 }), status: 422, error: 'validation_failed' },
  { name: 'negative amount', ...order({ amount: -5 }), status: 422, error: 'validation_failed' },
  { name: 'fractional amount', ...order({ amount: 1.5 }), status: 422, error: 'validation_failed' },
  { name: 'amount over 10^12', ...order({ amount: 1_000_000_000_001 }), status: 422, error: 'validation_failed' },
  { name: 'amount 2^53+1', ...order('{"amount": 9007199254740993}'), status: 422, error: 'validation_failed' },
  { name: 'amount beyond int64', ...order('{"amount": 99999999999999999999999}'), status: 422, error: 'validation_failed' },
  { name: 'amount missing', ...order({ description: 'x' }), status: 422, error: 'validation_failed' },
  { name: 'amount null', ...order({ amount: null }), status: 422, error: 'validation_failed' },
  { name: 'extra field status', ...order({ amount: 5, status: 'FINISHED' }), status: 422, error: 'validation_failed' },
  { name: 'extra field userId', ...order({ amount: 5, userId: 'someone-else' }), status: 422, error: 'validation_failed' },
  { name: 'description over 200 characters', ...order({ amount: 5, description: 'd'.repeat(201) }), status: 422, error: 'validation_failed' },
  { name: 'description with a NUL byte', ...order({ amount: 5, description: 'a\u0000b' }), status: 422, error: 'validation_failed' },
  { name: 'description with a lone surrogate', ...order('{"amount": 5, "description": "a\\ud800b"}'), status: 422, error: 'validation_failed' },
  { name: 'a __proto__ field', ...order('{"amount": 5, "__proto__": {"status": "FINISHED"}}'), status: 422, error: 'validation_failed' },
  { name: 'a constructor field', ...order({ amount: 5, constructor: { prototype: {} } }), status: 422, error: 'validation_failed' },
  { name: 'description not a string', ...order({ amount: 5, description: 7 }), status: 422, error: 'validation_failed' },
  { name: 'body is an array', ...order([{ amount: 5 }]), status: 422, error: 'validation_failed' },
  { name: 'body is null', ...order('null'), status: 422, error: 'validation_failed' },
  { name: 'malformed JSON', ...order('{"amount": 5'), status: 400, error: 'invalid_json' },
  { name: 'text/plain body', ...order('amount=5', { contentType: 'text/plain' }), status: 415, error: 'unsupported_media_type' },
  { name: 'form body', ...order('amount=5', { contentType: 'application/x-www-form-urlencoded' }), status: 415, error: 'unsupported_media_type' },
  { name: 'top-up amount as a string', ...topUp({ amount: '100' }), status: 422, error: 'validation_failed' },
  { name: 'top-up of zero', ...topUp({ amount: 0 }), status: 422, error: 'validation_failed' },
  { name: 'negative top-up', ...topUp({ amount: -100 }), status: 422, error: 'validation_failed' },
  { name: 'fractional top-up', ...topUp({ amount: 0.5 }), status: 422, error: 'validation_failed' },
  { name: 'top-up over 10^12', ...topUp({ amount: 10 ** 13 }), status: 422, error: 'validation_failed' },
  { name: 'top-up with an extra field', ...topUp({ amount: 5, balance: 10 ** 9 }), status: 422, error: 'validation_failed' },
  { name: 'top-up of a missing account', ...topUp({ amount: 5 }, { user: 'nobody' }), status: 404, error: 'account_not_found' },
  { name: 'top-up with malformed JSON', ...topUp('{amount:5}'), status: 400, error: 'invalid_json' },
  { name: 'top-up as a form', ...topUp('amount=5', { contentType: 'application/x-www-form-urlencoded' }), status: 415, error: 'unsupported_media_type' },
  { name: 'top-up without identity', ...topUp({ amount: 5 }, { user: undefined }), status: 401, error: 'unauthorized' },
  { name: 'list with limit 0', method: 'GET', path: '/api/orders?limit=0', user: 'holder', status: 422, error: 'validation_failed' },
  { name: 'list with limit 101', method: 'GET', path: '/api/orders?limit=101', user: 'holder', status: 422, error: 'validation_failed' },
  { name: 'list with limit abc', method: 'GET', path: '/api/orders?limit=abc', user: 'holder', status: 422, error: 'validation_failed' },
  {
    name: 'order whose description is an array nested 5000 deep (10 KB)',
    ...order(`{"amount":1,"description":${'['.repeat(5000)}${']'.repeat(5000)}}`),
    status: 422,
    error: 'validation_failed',
  },
  {
    name: 'statement before an id past 2^53',
    method: 'GET',
    path: '/api/payments/account/transactions?before=99999999999999999999999',
    user: 'holder',
    status: 422,
    error: 'validation_failed',
  },
  { name: 'list with a forged cursor', method: 'GET', path: '/api/orders?cursor=bm9wZQ', user: 'holder', status: 422, error: 'invalid_cursor' },
  {
    name: 'statement of a missing account',
    method: 'GET',
    path: '/api/payments/account/transactions',
    user: 'nobody',
    status: 404,
    error: 'account_not_found',
  },
  { name: 'an unknown API route', method: 'GET', path: '/api/shipping', user: 'holder', status: 404, error: 'not_found' },
  { name: 'an unknown orders route', method: 'GET', path: '/api/orders/a/b', user: 'holder', status: 404, error: 'not_found' },
  { name: 'an unsupported method', method: 'DELETE', path: '/api/orders', user: 'holder', status: 404, error: 'not_found' },
]

async function counts() {
  const [orders] = await sys.ordersSql`select (select count(*) from orders)::int as orders, (select count(*) from outbox)::int as outbox`
  const [payments] = await sys.paymentsSql`
    select (select count(*) from accounts)::int as accounts, (select count(*) from ledger_entries)::int as ledger,
           (select sum(balance) from accounts)::bigint as balances`
  return { ...orders, ...payments }
}

describe('bad input', () => {
  for (const c of cases) {
    test(`${c.name} → ${c.status} ${c.error}, nothing written`, async () => {
      const before = await counts()
      const headers: Record<string, string> = (await c.headers?.()) ?? {}
      if (c.contentType) headers['content-type'] = c.contentType
      const response = await sys.api(c.method, c.path, { user: c.user, body: c.body, headers })
      expect(response.status).toBe(c.status)
      expect(response.body.error).toBe(c.error)
      expect(typeof response.body.message).toBe('string')
      // Nothing but the documented fields, and no internals.
      expect(Object.keys(response.body).every((k) => ['error', 'message', 'details'].includes(k))).toBe(true)
      expect(JSON.stringify(response.body)).not.toMatch(/at .+\.ts|select |insert |postgres/i)
      expect(await counts()).toEqual(before)
    })
  }

  test('emoji (surrogate pairs) are fine in a description', async () => {
    const r = await sys.api('POST', '/api/orders', { user: 'holder', body: { amount: 5, description: 'tea 🍵 for two' } })
    expect(r.status).toBe(201)
    expect(r.body.description).toBe('tea 🍵 for two')
  })

  test('another user’s order id is a 404, the same as an order that does not exist', async () => {
    const id = await sys.createOrder('holder', 5)
    const response = await sys.api('GET', `/api/orders/${id}`, { user: 'intruder' })
    expect(response).toMatchObject({ status: 404, body: { error: 'order_not_found' } })
  })

  test('validation errors name the field', async () => {
    const response = await sys.api('POST', '/api/orders', { user: 'holder', body: { amount: '5' } })
    expect(response.body.details).toEqual([{ field: '/amount', message: expect.any(String) }])
  })
})

describe('hostile WebSockets', () => {
  const wsUrl = (path: string) => `${sys.gateway.url.replace('http', 'ws')}${path}`

  const refusals: { name: string; path: string; headers: () => Record<string, string>; status: number; error: string }[] = [
    { name: 'live stream without credentials', path: '/api/orders/live', headers: () => ({}), status: 401, error: 'unauthorized' },
    { name: 'live stream with only X-User-Id', path: '/api/orders/live', headers: () => ({ 'x-user-id': 'holder' }), status: 401, error: 'unauthorized' },
    {
      name: 'live stream with a tampered token',
      path: '/api/orders/live',
      headers: () => ({ authorization: `Bearer ${tampered()}` }),
      status: 401,
      error: 'unauthorized',
    },
    {
      name: 'live stream with an expired token',
      path: '/api/orders/live',
      headers: () => ({
        authorization: `Bearer ${sys.gateway.auth.tokens.issue('api', { id: 'holder', username: 'holder' }, 60, Date.now() - 120_000).token}`,
      }),
      status: 401,
      error: 'token_expired',
    },
    {
      name: 'live stream opened from another site',
      path: '/api/orders/live',
      headers: () => ({ ...sys.bearer('holder'), origin: 'http://evil.example' }),
      status: 403,
      error: 'cross_origin_request',
    },
    { name: 'page socket without a session', path: '/ws', headers: () => ({}), status: 401, error: 'unauthorized' },
    { name: 'page socket with a bearer token instead of the cookie', path: '/ws', headers: () => sys.bearer('holder'), status: 401, error: 'unauthorized' },
    {
      name: 'page socket opened from another site (cross-site WebSocket hijacking)',
      path: '/ws',
      headers: async () => ({ cookie: (await sys.pageSession('holder')).cookie, origin: 'http://evil.example' }),
      status: 403,
      error: 'cross_origin_request',
    },
  ]
  for (const c of refusals) {
    test(`${c.name} → ${c.status} ${c.error}`, async () => {
      const response = await fetch(`${sys.gateway.url}${c.path}`, { headers: { ...UPGRADE_HEADERS, ...(await c.headers()) } })
      expect(response.status).toBe(c.status)
      expect(((await response.json()) as { error: string }).error).toBe(c.error)
    })
  }

  test('a subscription naming another user’s order or id learns nothing about it', async () => {
    await sys.openAccount('watcher', 1000)
    const mine = await sys.createOrder('watcher', 5)
    await sys.waitForFinal('watcher', mine)
    // The stream's query and messages cannot choose whose orders it shows.
    const api = await openSocket(wsUrl('/api/orders/live?userId=holder&user=holder'), sys.bearer('watcher'))
    api.send(JSON.stringify({ subscribe: 'holder' }))
    const page = await sys.pageSession('watcher')
    const before = await sys.createOrder('holder', 7)
    await sys.waitForFinal('holder', before)
    const tab = await openSocket(wsUrl(`/ws?order=${before}`), { cookie: page.cookie })
    const snapshot = await tab.waitFor((m) => m.includes('id="balance"'))
    expect(snapshot).toContain(`order-${mine}`)
    expect(snapshot).not.toContain(before)
    const after = await sys.createOrder('holder', 8)
    await sys.waitForFinal('holder', after)
    // Both sockets work: the watcher's own next order reaches them.
    const next = await sys.createOrder('watcher', 6)
    await Promise.all([api, tab].map((socket) => socket.waitFor((m) => m.includes(next) && !m.includes('"NEW"') && !m.includes('data-status="NEW"'))))
    for (const socket of [api, tab]) {
      expect(socket.messages.some((m) => m.includes(before) || m.includes(after))).toBe(false)
      socket.close()
    }
  })

  test(`a client message over ${LIVE_LIMITS.maxPayloadBytes} bytes closes the socket (1009)`, async () => {
    const socket = await openSocket(wsUrl('/api/orders/live'), sys.bearer('holder'))
    socket.send(`{"subscribe":"${'x'.repeat(LIVE_LIMITS.maxPayloadBytes)}"}`)
    expect((await socket.closed).code).toBe(1009)
  })
})

describe('a service called without the gateway’s proof answers 401 before it looks at the request', () => {
  test.each([
    ['a top-up with a string amount', 'payments', 'POST', '/api/payments/account/top-up', JSON.stringify({ amount: 'x' }), 'application/json'],
    ['an order with an unknown field', 'orders', 'POST', '/api/orders', JSON.stringify({ amount: 1, status: 'FINISHED' }), 'application/json'],
    ['a list with limit abc', 'orders', 'GET', '/api/orders?limit=abc', undefined, 'application/json'],
    ['a body that is no JSON', 'orders', 'POST', '/api/orders', '{', 'application/json'],
    ['a body of another media type', 'orders', 'POST', '/api/orders', 'x', 'text/plain'],
    ['a route the service does not have', 'payments', 'POST', '/api/orders', 'x', 'text/plain'],
  ] as const)('%s', async (_name, service, method, path, body, type) => {
    const response = await fetch(`${sys[service].url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': type },
      body,
    })
    expect(response.status).toBe(401)
    const answer = (await response.json()) as { error: string; message: string }
    expect(answer.error).toBe('identity_proof_required')
    expect(answer.message).toContain('call the gateway')
  })
})

test('a made-up proof header is no proof: still 401 before the body is read', async () => {
  for (const proof of ['x', 'v2.orders.someone.1.abcdefghijklmnop.sig', `v2.payments.someone.${Date.now()}.abcdefghijklmnop.sig`]) {
    const response = await fetch(`${sys.orders.url}/api/orders`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', 'gozon-identity': proof },
      body: '{',
    })
    expect({ proof, status: response.status, error: ((await response.json()) as { error: string }).error }).toEqual({
      proof,
      status: 401,
      error: 'identity_proof_required',
    })
  }
})

describe('protocol details clients get differently right', () => {
  const send = (path: string, init: { body?: string; headers?: Record<string, string>; method?: string }) =>
    fetch(`${sys.gateway.url}${path}`, { method: init.method ?? 'POST', headers: init.headers, body: init.body }).then(async (r) => ({
      status: r.status,
      body: (await r.json().catch(() => ({}))) as Record<string, unknown>,
    }))

  test('every JSON answer says nosniff: a browser never takes one for a script or a page, through the gateway or from a service', async () => {
    const auth = { authorization: `Bearer ${sys.tokenFor('sniffer')}` }
    const answers = [
      await fetch(`${sys.gateway.url}/api/orders`, { headers: auth }), // 200, proxied
      await fetch(`${sys.gateway.url}/api/orders`), // 401 at the gateway
      await fetch(`${sys.gateway.url}/api/nothing-here`, { headers: auth }), // 404
      await fetch(`${sys.gateway.url}/api/orders`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"amount":"<script>"}' }), // 422
      await fetch(`${sys.gateway.url}/api/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' }), // 400
      await fetch(`${sys.orders.url}/api/orders`), // 401 at the service itself
      await fetch(`${sys.payments.url}/health`),
    ]
    expect(answers.map((r) => r.status)).toEqual([200, 401, 404, 422, 400, 401, 200])
    for (const r of answers) {
      expect(r.headers.get('content-type')).toStartWith('application/json')
      expect(r.headers.get('x-content-type-options')).toBe('nosniff')
    }
  })

  test('media types are case-insensitive: APPLICATION/JSON; Charset=UTF-8 is JSON, to the services and to the gateway', async () => {
    const auth = { authorization: `Bearer ${sys.tokenFor('holder')}` }
    const order = await send('/api/orders', { body: '{"amount":7}', headers: { ...auth, 'content-type': 'APPLICATION/JSON; Charset=UTF-8' } })
    expect(order).toMatchObject({ status: 201, body: { amount: 7, status: 'NEW' } })
    const user = await send('/api/auth/users', {
      body: JSON.stringify({ username: 'caps-lock', password: 'correct horse battery staple' }),
      headers: { 'content-type': 'Application/Json' },
    })
    expect(user).toMatchObject({ status: 201, body: { username: 'caps-lock' } })
  })

  test('an empty body with a JSON content type is 400 invalid_json, and nothing is written', async () => {
    const before = await counts()
    const auth = { authorization: `Bearer ${sys.tokenFor('holder')}` }
    for (const [path, headers] of [
      ['/api/orders', auth],
      ['/api/payments/account/top-up', auth],
      ['/api/auth/users', {}],
      ['/api/auth/token', {}],
    ] as const) {
      const r = await send(path, { body: '', headers: { ...headers, 'content-type': 'application/json' } })
      expect({ path, ...r }).toMatchObject({ path, status: 400, body: { error: 'invalid_json' } })
    }
    expect(await counts()).toEqual(before)
  })

  test('the bearer scheme is case-insensitive', async () => {
    const token = sys.tokenFor('holder')
    for (const authorization of [`bearer ${token}`, `BEARER ${token}`, `Bearer  ${token}`]) {
      expect(await send('/api/orders?limit=1', { method: 'GET', headers: { authorization } })).toMatchObject({ status: 200 })
    }
    expect(await send('/api/orders?limit=1', { method: 'GET', headers: { authorization: `Bearer${token}` } })).toMatchObject({ status: 401 })
  })
})

describe('validation messages are the product’s own, and lengths are in characters', () => {
  test('every field problem is said in Gozon’s words, never the schema library’s', async () => {
    const bodies: [unknown, string, string][] = [
      [{ amount: '5' }, '/amount', 'Must be a whole number (a JSON number without a fraction).'],
      [{ amount: 0 }, '/amount', 'Must be at least 1.'],
      [{ amount: 1.5 }, '/amount', 'Must be a whole number (a JSON number without a fraction).'],
      [{ amount: 5, status: 'FINISHED' }, '/status', 'This field is not part of the request; remove it.'],
      [{ description: 'x' }, '/amount', 'This field is required.'],
      [{ amount: 5, description: 7 }, '/description', 'Must be text (a JSON string).'],
      [{ amount: 5, description: 'd'.repeat(201) }, '/description', 'Use at most 200 characters, without NUL characters or unpaired surrogates.'],
      [[{ amount: 5 }], '/', 'Send a JSON object.'],
    ]
    for (const [body, field, message] of bodies) {
      const r = await sys.api('POST', '/api/orders', { user: 'holder', body })
      expect({ body, status: r.status, details: r.body.details }).toEqual({ body, status: 422, details: expect.arrayContaining([{ field, message }]) })
      expect(JSON.stringify(r.body)).not.toMatch(/Expected|less or equal|greater or equal/)
    }
    const user = await sys.api('POST', '/api/auth/users', { body: { username: 'x'.repeat(65), password: 'long enough password' } })
    expect([user.status, user.body]).toEqual([422, expect.objectContaining({ details: [{ field: '/username', message: 'Use at most 64 characters.' }] })])
  })

  test('a query parameter out of range is named (Elysia reads it as a number first and forgets which it was)', async () => {
    const queries: [string, string, string][] = [
      ['/api/orders?limit=1000', '/limit', 'Must be at most 100.'],
      ['/api/orders?status=NEW&limit=0', '/limit', 'Must be at least 1.'],
      ['/api/orders?limit=abc', '/limit', 'Must be a whole number.'],
      ['/api/orders?limit=2.5', '/limit', 'Must be a whole number.'],
      ['/api/orders?status=new', '/status', 'Not one of the allowed values.'],
      ['/api/payments/account/transactions?before=0', '/before', 'Must be at least 1.'],
      ['/api/payments/account/transactions?limit=20&before=9007199254740993', '/before', 'Must be at most 9,007,199,254,740,991.'],
    ]
    await sys.openAccount('ranger')
    for (const [path, field, message] of queries) {
      const r = await sys.api('GET', path, { user: 'ranger' })
      expect({ path, status: r.status, details: r.body.details }).toEqual({ path, status: 422, details: [{ field, message }] })
    }
  })

  test('a description is counted in characters: 200 emoji are 200 characters, in the API and on the page', async () => {
    const emoji = '🍵'.repeat(200) // 400 UTF-16 units, 200 characters, as PostgreSQL's varchar(200) counts
    const ok = await sys.api('POST', '/api/orders', { user: 'holder', body: { amount: 5, description: emoji } })
    expect(ok.status).toBe(201)
    expect(ok.body.description).toBe(emoji)
    const over = await sys.api('POST', '/api/orders', { user: 'holder', body: { amount: 5, description: `${emoji}x` } })
    expect(over.status).toBe(422)
    const session = await sys.pageSession('holder')
    const form = (description: string) =>
      sys.gateway.app.handle(
        new Request('http://localhost/orders', {
          method: 'POST',
          headers: { cookie: session.cookie, 'hx-request': 'true', 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ amount: '0.05', description, csrfToken: session.csrf }).toString(),
        }),
      )
    expect((await form(emoji)).status).toBe(200)
    const refused = await form(`${emoji}x`)
    expect(refused.status).toBe(422)
    expect(await refused.text()).toContain('Use at most 200 characters.')
  })
})

describe('a client that goes away', () => {
  test('an upload cut short is logged in one line, not as an exception', async () => {
    const lines: string[] = []
    const log = pino({ level: 'info', base: { service: 'gateway' } }, { write: (line: string) => void lines.push(line) })
    const gateway = await sys.startAnotherGateway({ log })
    try {
      const port = new URL(gateway.url).port
      await new Promise<void>((resolve) => {
        const socket = connect(Number(port), '127.0.0.1', () => {
          socket.write(
            `POST /api/orders HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nAuthorization: Bearer ${sys.tokenFor('holder')}\r\nContent-Length: 100\r\n\r\n{"amou`,
          )
          setTimeout(() => {
            socket.destroy()
            resolve()
          }, 200)
        })
      })
      await Bun.sleep(300)
      const aborted = lines.filter((l) => l.includes('closed the connection before its request was read'))
      expect(aborted).toHaveLength(1)
      expect(aborted[0]!.length).toBeLessThan(300)
      expect(lines.join('')).not.toContain('DOMException')
      expect(lines.join('')).not.toContain('unhandled error')
    } finally {
      await gateway.stop()
    }
  })
})

describe('a body that trickles in (slowloris)', () => {
  /** Sends the headers, then one byte of the body every 200 ms; what came back, and when. */
  function trickle(port: number, path: string, type: string, extra = ''): Promise<{ head: string; ms: number }> {
    return new Promise((resolve) => {
      const started = performance.now()
      let answer = ''
      let timer: Timer | undefined
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: ${type}\r\n${extra}Content-Length: 1000\r\n\r\n`)
        timer = setInterval(() => socket.write('x'), 200)
      })
      const done = () => {
        clearInterval(timer)
        socket.destroy()
        resolve({ head: answer, ms: performance.now() - started })
      }
      socket.on('data', (chunk) => {
        answer += chunk.toString()
        if (answer.includes('\r\n\r\n') && answer.includes('}')) done()
      })
      socket.on('close', done)
      socket.on('error', done)
    })
  }

  test('is cut after BODY_TIMEOUT_MS with 408, on the gateway’s API, its forms and what it forwards', async () => {
    const gateway = await sys.startAnotherGateway({ bodyTimeoutMs: 1_000 })
    try {
      const port = Number(new URL(gateway.url).port)
      const cases: (readonly [string, string, string])[] = [
        ['/api/auth/token', 'application/json', ''],
        ['/sign-in', 'application/x-www-form-urlencoded', ''],
        ['/api/orders', 'application/json', `Authorization: Bearer ${sys.tokenFor('holder')}\r\n`],
        ['/orders', 'application/x-www-form-urlencoded', `Cookie: ${(await sys.pageSession('holder')).cookie}\r\n`],
      ]
      for (const [path, type, extra] of cases) {
        const { head, ms } = await trickle(port, path, type, extra)
        expect({ path, status: head.split('\r\n')[0] }).toEqual({ path, status: 'HTTP/1.1 408 Request Timeout' })
        expect(head).toContain('"error":"request_timeout"')
        expect(ms).toBeGreaterThan(900)
        expect(ms).toBeLessThan(3_000)
      }
    } finally {
      await gateway.stop()
    }
  })
})

describe('page forms are urlencoded', () => {
  test('a sign-in or order form sent as multipart or text is 415 (no parser without a deadline reads it)', async () => {
    for (const [path, type, body] of [
      ['/sign-in', 'multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="username"\r\n\r\nholder\r\n--x--\r\n'],
      ['/sign-in', 'text/plain', 'username=holder&password=whatever'],
      ['/orders', 'text/plain', 'amount=1'],
    ] as const) {
      const r = await sys.gateway.app.handle(new Request(`http://localhost${path}`, { method: 'POST', headers: { 'content-type': type }, body }))
      expect([path, type, r.status]).toEqual([path, type, 415])
    }
  })
})

// The gateway: the single entry point. Authenticates every request (pages by
// session cookie, API by bearer token), routes /api/orders/** and
// /api/payments/** to the services with the caller's identity proven, serves
// the shopper's pages and holds the browsers' WebSockets.
import type { NatsConnection } from '@nats-io/transport-node'
import { Elysia } from 'elysia'
import { Gauge } from 'prom-client'
import { databaseIsUp } from '../shared/db/client'
import { type ErrorCode, errorResponse } from '../shared/errors'
import { apiDocs } from '../shared/http/api-docs'
import { clientAddressOf } from '../shared/http/client-address'
import { errorsPlugin } from '../shared/http/errors-plugin'
import { healthRoute } from '../shared/http/health'
import { bodyTooLarge, requireJsonBody, SERVER_BODY_LIMIT } from '../shared/http/json-body'
import { noSniff } from '../shared/http/no-sniff'
import { requestSpans } from '../shared/http/request-spans'
import { warnIfInsecure } from '../shared/identity'
import { stopServer } from '../shared/lifecycle'
import type { Logger } from '../shared/logger'
import { natsIsUp } from '../shared/messaging/health'
import { createRegistry, httpMetrics, metricsTokenGuard } from '../shared/metrics'
import { Currency } from '../views/money'
import { assets } from './assets'
import { authApi } from './auth/api-routes'
import { attemptLimiters } from './auth/attempts'
import { Authenticator, type AuthSettings } from './auth/authenticator'
import type { IdentityDatabase } from './auth/database'
import { authPages } from './auth/pages'
import { SessionStore } from './auth/sessions'
import { UserStore } from './auth/users'
import { LiveHub } from './live-hub'
import { LIVE_SOCKET_SETTINGS, liveRoutes } from './live-routes'
import { notFoundPage, pages, wantsPage } from './pages'
import { forward, type Upstream, upstreamIsUp } from './proxy'
import { ServiceClient } from './service-client'

export type GatewayDeps = {
  log: Logger
  nc: NatsConnection
  /** User names and password hashes (gateway/auth/database.ts). */
  db: IdentityDatabase
  orders: Upstream
  payments: Upstream
  upstreamTimeoutMs: number
  /** GatewayConfig.pageReadTimeoutMs. */
  pageReadTimeoutMs: number
  /** GatewayConfig.bodyTimeoutMs. */
  bodyTimeoutMs: number
  /** The shop's currency code (GatewayConfig.currency). */
  currency: string
  auth: AuthSettings
  /** See GatewayConfig.metricsToken. */
  metricsToken?: string
  /** See GatewayConfig.trustedProxies. */
  trustedProxies?: string[]
}

function unauthorized(code: ErrorCode): Response {
  const response = errorResponse(code)
  response.headers.set('www-authenticate', 'Bearer realm="gozon"')
  return response
}

export function createGateway(deps: GatewayDeps) {
  const sessions = new SessionStore({ db: deps.db, nc: deps.nc, log: deps.log })
  const auth = new Authenticator(deps.auth, sessions)
  const users = new UserStore(deps.db, deps.auth.hashing)
  const limits = attemptLimiters(deps.db.$client, deps.auth.attempts, clientAddressOf(deps.trustedProxies ?? []))
  const client = new ServiceClient(
    { orders: deps.orders, payments: deps.payments },
    { writeMs: deps.upstreamTimeoutMs, readMs: deps.pageReadTimeoutMs },
    deps.auth.identity,
  )
  // The one place the pages, the forms and the live pushes get their currency from.
  const currency = new Currency(deps.currency)
  const hub = new LiveHub({ nc: deps.nc, client, log: deps.log, currency })
  const options = { timeoutMs: deps.upstreamTimeoutMs, bodyTimeoutMs: deps.bodyTimeoutMs, log: deps.log, identity: deps.auth.identity }

  /** An API request: the caller must be authenticated, except for the services' API docs. */
  const toService =
    (upstream: Upstream) =>
    ({ request }: { request: Request }) => {
      if (new URL(request.url).pathname.startsWith(`/api/${upstream.name}/swagger`)) return forward(request, upstream, undefined, options)
      const caller = auth.apiCaller(request)
      if (caller === 'expired') return unauthorized('token_expired')
      if (!caller) return unauthorized('unauthorized')
      return forward(request, upstream, caller.userId, options)
    }

  const metrics = createRegistry('gateway')
  new Gauge({
    name: 'gozon_live_sockets',
    help: 'Open live WebSockets (pages and API streams) on this gateway',
    registers: [metrics],
    collect() {
      this.set(hub.socketCount())
    },
  })
  const app = new Elysia({
    name: 'gateway',
    normalize: false,
    websocket: LIVE_SOCKET_SETTINGS,
    serve: { maxRequestBodySize: SERVER_BODY_LIMIT },
  })
    // Before the catalogue's handler, which answers every unknown address with JSON.
    // (Decided at once: a hook that returns a promise has answered, even if the promise holds nothing.)
    .onError({ as: 'global' }, ({ code, request }) => (code === 'NOT_FOUND' && wantsPage(request) ? notFoundPage(auth, currency, request) : undefined))
    .use(errorsPlugin(deps.log))
    .use(noSniff)
    .use(requestSpans('gateway'))
    .use(httpMetrics(metrics, metricsTokenGuard(deps.metricsToken)))
    .onRequest(({ request }) => {
      // Without a Host header (HTTP/1.0) Bun has no URL to give.
      if (!URL.canParse(request.url)) return errorResponse('bad_request')
      if (bodyTooLarge(request)) return errorResponse('payload_too_large')
      // The gateway's own JSON API; the services check theirs.
      if (new URL(request.url).pathname.startsWith('/api/auth/')) requireJsonBody(request)
    })
    .use(
      healthRoute({
        orders: () => upstreamIsUp(deps.orders),
        payments: () => upstreamIsUp(deps.payments),
        nats: () => natsIsUp(deps.nc),
        database: () => databaseIsUp(deps.db.$client),
      }),
    )
    .use(assets)
    .use(authApi({ auth, users, log: deps.log, limits, bodyTimeoutMs: deps.bodyTimeoutMs }))
    .use(
      apiDocs({
        prefix: '/api/auth',
        title: 'Gozon identity (gateway)',
        description: [
          'Create a user and get a bearer token for the orders and payments APIs, served by the gateway.',
          'Send the token as `Authorization: Bearer <token>` to `/api/orders/**` and `/api/payments/**` (documents: [/api/orders/swagger](/api/orders/swagger), [/api/payments/swagger](/api/payments/swagger)).',
        ].join('\n\n'),
        tags: [{ name: 'auth', description: 'Users and bearer tokens' }],
      }),
    )
    .use(authPages({ auth, users, limits, bodyTimeoutMs: deps.bodyTimeoutMs }))
    .use(pages({ client, auth, currency, bodyTimeoutMs: deps.bodyTimeoutMs }))
    // Before the proxy: the live stream is the gateway's own, not the orders service's.
    .use(liveRoutes({ hub, client, log: deps.log, auth, currency }))
    .all('/api/orders', toService(deps.orders), { parse: 'none' })
    .all('/api/orders/*', toService(deps.orders), { parse: 'none' })
    .all('/api/payments', toService(deps.payments), { parse: 'none' })
    .all('/api/payments/*', toService(deps.payments), { parse: 'none' })
  return { app, hub, auth }
}

/** Starts the live hub and listens; stop() closes sockets with 1001 (htmx reconnects), then the server. */
export function startGateway(deps: GatewayDeps, listen: { hostname: string; port: number }) {
  warnIfInsecure(deps.log, deps.auth.identity)
  const { app, hub, auth } = createGateway(deps)
  hub.start()
  auth.sessions?.start()
  app.listen(listen)
  const port = app.server?.port ?? listen.port
  return {
    app,
    hub,
    auth,
    port,
    url: `http://127.0.0.1:${port}`,
    async stop() {
      await hub.stop()
      auth.sessions?.stop()
      await stopServer(app)
    },
  }
}

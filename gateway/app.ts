// The gateway: the single entry point. Routes /api/orders/** and
// /api/payments/** to the services unchanged, serves the shopper's pages and
// holds the browsers' WebSockets.
import type { NatsConnection } from '@nats-io/transport-node'
import { Elysia } from 'elysia'
import { errorsPlugin } from '../shared/http/errors-plugin'
import { healthRoute } from '../shared/http/health'
import { stopServer } from '../shared/lifecycle'
import { createRegistry, httpMetrics } from '../shared/metrics'
import { Gauge } from 'prom-client'
import type { Logger } from '../shared/logger'
import { natsIsUp } from '../shared/messaging/health'
import { assets } from './assets'
import { LiveHub } from './live-hub'
import { LIVE_SOCKET_SETTINGS, liveRoutes } from './live-routes'
import { bodyTooLarge, SERVER_BODY_LIMIT } from '../shared/http/json-body'
import { errorResponse } from '../shared/errors'
import { pages } from './pages'
import { forward, type Upstream, upstreamIsUp } from './proxy'
import { ServiceClient } from './service-client'

export type GatewayDeps = {
  log: Logger
  nc: NatsConnection
  orders: Upstream
  payments: Upstream
  upstreamTimeoutMs: number
}

export function createGateway(deps: GatewayDeps) {
  const client = new ServiceClient({ orders: deps.orders, payments: deps.payments }, deps.upstreamTimeoutMs)
  const hub = new LiveHub({ nc: deps.nc, client, log: deps.log })
  const options = { timeoutMs: deps.upstreamTimeoutMs, log: deps.log }
  const toOrders = ({ request }: { request: Request }) => forward(request, deps.orders, options)
  const toPayments = ({ request }: { request: Request }) => forward(request, deps.payments, options)
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
    websocket: LIVE_SOCKET_SETTINGS,
    serve: { maxRequestBodySize: SERVER_BODY_LIMIT },
  })
    .use(errorsPlugin(deps.log))
    .use(httpMetrics(metrics))
    .onRequest(({ request }) => (bodyTooLarge(request) ? errorResponse('payload_too_large') : undefined))
    .use(
      healthRoute({
        orders: () => upstreamIsUp(deps.orders),
        payments: () => upstreamIsUp(deps.payments),
        nats: () => natsIsUp(deps.nc),
      }),
    )
    .use(assets)
    .use(pages({ client }))
    // Before the proxy: the live stream is the gateway's own, not the orders service's.
    .use(liveRoutes({ hub, client, log: deps.log }))
    .all('/api/orders', toOrders, { parse: 'none' })
    .all('/api/orders/*', toOrders, { parse: 'none' })
    .all('/api/payments', toPayments, { parse: 'none' })
    .all('/api/payments/*', toPayments, { parse: 'none' })
  return { app, hub }
}

/** Starts the live hub and listens; stop() closes sockets with 1001 (htmx reconnects), then the server. */
export function startGateway(deps: GatewayDeps, listen: { hostname: string; port: number }) {
  const { app, hub } = createGateway(deps)
  hub.start()
  app.listen(listen)
  const port = app.server?.port ?? listen.port
  return {
    app,
    hub,
    port,
    url: `http://127.0.0.1:${port}`,
    async stop() {
      await hub.stop()
      await stopServer(app)
    },
  }
}

// The gateway: the single entry point. Routes /api/orders/** and
// /api/payments/** to the services unchanged and serves the web pages.
import { Elysia } from 'elysia'
import { errorsPlugin } from '../shared/http/errors-plugin'
import { healthRoute } from '../shared/http/health'
import type { Logger } from '../shared/logger'
import { renderHome } from '../views/home'
import { forward, type Upstream, upstreamIsUp } from './proxy'

export type GatewayDeps = {
  log: Logger
  orders: Upstream
  payments: Upstream
  upstreamTimeoutMs: number
}

export function createApp(deps: GatewayDeps) {
  const options = { timeoutMs: deps.upstreamTimeoutMs, log: deps.log }
  const toOrders = ({ request }: { request: Request }) => forward(request, deps.orders, options)
  const toPayments = ({ request }: { request: Request }) => forward(request, deps.payments, options)
  return new Elysia({ name: 'gateway' })
    .use(errorsPlugin(deps.log))
    .use(healthRoute({ orders: () => upstreamIsUp(deps.orders), payments: () => upstreamIsUp(deps.payments) }))
    .get('/', renderHome)
    .all('/api/orders', toOrders, { parse: 'none' })
    .all('/api/orders/*', toOrders, { parse: 'none' })
    .all('/api/payments', toPayments, { parse: 'none' })
    .all('/api/payments/*', toPayments, { parse: 'none' })
}

// Entry point of the gateway: `bun gateway/main.ts`.
import { loadConfigOrExit } from '../shared/config'
import { exitOnSignal, runMain } from '../shared/lifecycle'
import { createLogger } from '../shared/logger'
import { connectNats } from '../shared/messaging/nats'
import { traceProcess } from '../shared/tracing'
import { startGateway } from './app'
import { openIdentityDatabase } from './auth/database'
import { loadGatewayConfig } from './config'

const config = loadConfigOrExit(loadGatewayConfig)
const log = createLogger('gateway', config.logLevel)
await runMain(log, async () => {
  const flushSpans = traceProcess('gateway', config.tracingEndpoint, log)
  const db = await openIdentityDatabase(config.databaseUrl)
  const nc = await connectNats(config.natsUrl, 'gozon-gateway', log)
  const gateway = startGateway(
    {
      log,
      nc,
      db,
      orders: { name: 'orders', baseUrl: config.ordersUrl },
      payments: { name: 'payments', baseUrl: config.paymentsUrl },
      upstreamTimeoutMs: config.upstreamTimeoutMs,
      pageReadTimeoutMs: config.pageReadTimeoutMs,
      bodyTimeoutMs: config.bodyTimeoutMs,
      currency: config.currency,
      auth: config.auth,
      metricsToken: config.metricsToken,
      trustedProxies: config.trustedProxies,
    },
    { hostname: config.host, port: config.port },
  )
  log.info({ url: `http://${config.host}:${gateway.port}` }, 'gateway listening')
  exitOnSignal(log, async () => {
    await gateway.stop()
    await nc.drain().catch(() => {})
    await db.$client.end({ timeout: 5 })
    await flushSpans()
  })
})

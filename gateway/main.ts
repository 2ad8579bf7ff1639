// Entry point of the gateway: `bun gateway/main.ts`.
import { loadConfigOrExit } from '../shared/config'
import { within } from '../shared/async'
import { exitOnSignal, runMain } from '../shared/lifecycle'
import { createLogger } from '../shared/logger'
import { createApp } from './app'
import { loadGatewayConfig } from './config'

const config = loadConfigOrExit(loadGatewayConfig)
const log = createLogger('gateway', config.logLevel)
await runMain(log, async () => {
  const app = createApp({
    log,
    orders: { name: 'orders', baseUrl: config.ordersUrl },
    payments: { name: 'payments', baseUrl: config.paymentsUrl },
    upstreamTimeoutMs: config.upstreamTimeoutMs,
  }).listen({ hostname: config.host, port: config.port })
  log.info({ url: `http://${config.host}:${app.server?.port}` }, 'gateway listening')
  exitOnSignal(log, async () => {
    const drained = await within(app.stop().then(() => true), 5000, false)
    if (!drained) await app.stop(true)
  })
})

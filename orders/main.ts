// Entry point of the orders service: `bun orders/main.ts`.
import { startBackendService } from '../shared/backend-service'
import { loadConfigOrExit } from '../shared/config'
import { exitOnSignal, runMain } from '../shared/lifecycle'
import { createLogger } from '../shared/logger'
import { traceProcess } from '../shared/tracing'
import { ordersService } from './app'
import { loadOrdersConfig } from './config'

const config = loadConfigOrExit(loadOrdersConfig)
const log = createLogger('orders', config.logLevel)
await runMain(log, async () => {
  const flushSpans = traceProcess('orders', config.tracingEndpoint, log)
  const service = await startBackendService(ordersService, config, log)
  exitOnSignal(log, async () => {
    await service.stop()
    await flushSpans()
  })
})

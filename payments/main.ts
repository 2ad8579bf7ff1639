// Entry point of the payments service: `bun payments/main.ts`.
import { startBackendService } from '../shared/backend-service'
import { loadConfigOrExit } from '../shared/config'
import { exitOnSignal, runMain } from '../shared/lifecycle'
import { createLogger } from '../shared/logger'
import { traceProcess } from '../shared/tracing'
import { paymentsService } from './app'
import { loadPaymentsConfig } from './config'

const config = loadConfigOrExit(loadPaymentsConfig)
const log = createLogger('payments', config.logLevel)
await runMain(log, async () => {
  const flushSpans = traceProcess('payments', config.tracingEndpoint, log)
  const service = await startBackendService(paymentsService, config, log)
  exitOnSignal(log, async () => {
    await service.stop()
    await flushSpans()
  })
})

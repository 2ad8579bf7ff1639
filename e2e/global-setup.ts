// Starts Gozon the way a user does (the launcher), in a throw-away data folder
// on free ports, for the browser tests; stops it with Ctrl-C afterwards.
import { spawnGozon } from '../launcher/spawn'

export default async function globalSetup(): Promise<() => Promise<void>> {
  const gozon = await spawnGozon({
    echo: Boolean(process.env.E2E_LOG_LEVEL),
    // A paused service must not hold a page for long.
    env: { UPSTREAM_TIMEOUT_MS: '1500', LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? 'warn' },
  })
  process.env.GOZON_E2E_URL = gozon.state.gatewayUrl
  process.env.GOZON_E2E_PAYMENTS_PID = String(gozon.state.pids.payments)
  process.env.GOZON_E2E_ORDERS_PID = String(gozon.state.pids.orders)
  return async () => {
    await gozon.stop()
  }
}

// Graceful shutdown for entry points: the first SIGINT/SIGTERM runs the stop
// function (finish in-flight work, close connections) and exits; a second one,
// or a stop that takes too long, exits at once.
import { within } from './async'
import type { Logger } from './logger'

export function exitOnSignal(log: Logger, stop: () => Promise<void>, graceMs = 15_000): void {
  let stopping = false
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now')
      process.exit(1)
    }
    stopping = true
    log.info({ signal }, 'shutting down')
    setTimeout(() => {
      log.error('shutdown took too long; exiting')
      process.exit(1)
    }, graceMs).unref()
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed')
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)
}

/** Runs an entry point, turning a start-up failure into one clear line and exit code 1. */
export async function runMain(log: Logger, main: () => Promise<void>): Promise<void> {
  try {
    await main()
  } catch (error) {
    log.fatal({ err: error }, 'failed to start')
    process.exit(1)
  }
}

/** Stops an HTTP server: in-flight requests get `graceMs`, then remaining connections are closed. */
export async function stopServer(app: { stop(closeActiveConnections?: boolean): Promise<unknown> }, graceMs = 5000): Promise<void> {
  const drained = await within(
    app.stop().then(() => true),
    graceMs,
    false,
  )
  if (!drained) await app.stop(true)
}

import type { NatsConnection } from '@nats-io/transport-node'
import { within } from '../async'

/** True when the NATS server answers a ping within the timeout. */
export function natsIsUp(nc: NatsConnection, timeoutMs = 1000): Promise<boolean> {
  if (nc.isClosed()) return Promise.resolve(false)
  return within(
    nc.flush().then(() => true),
    timeoutMs,
    false,
  )
}

// The NATS connection and the declaration of streams and durable consumers.
// Declarations are idempotent: each instance of each service runs them at
// start; an existing stream or consumer is updated to the declared config.
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  type JetStreamManager,
  jetstreamManager,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream'
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node'
import type { Logger } from '../logger'
import { STREAMS } from './contracts'

export type { NatsConnection }

export async function connectNats(url: string, name: string, log: Logger): Promise<NatsConnection> {
  const nc = await connect({
    servers: url,
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    pingInterval: 10_000,
  })
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnect' || s.type === 'error') log.warn({ nats: s.type }, 'nats connection status')
    }
  })()
  return nc
}

export type MessagingSettings = {
  /** How long JetStream remembers a Nats-Msg-Id; longer than the relay's retry horizon. */
  duplicateWindowMs: number
  /** How long a consumer may hold a message before it is redelivered. */
  ackWaitMs: number
  /** Deliveries before a message is given up (and dead-lettered). */
  maxDeliver: number
}

export const DEFAULT_MESSAGING: MessagingSettings = {
  duplicateWindowMs: 10 * 60_000,
  ackWaitMs: 30_000,
  maxDeliver: 20,
}

const STREAM_MAX_AGE_MS = 7 * 24 * 3600_000
const NOT_FOUND = 10059 // stream not found
const CONSUMER_NOT_FOUND = 10014

function isApiError(error: unknown, code: number): boolean {
  return error instanceof JetStreamApiError && error.code === code
}

export async function ensureStreams(jsm: JetStreamManager, settings: MessagingSettings): Promise<void> {
  for (const stream of Object.values(STREAMS)) {
    const config = {
      subjects: [...stream.subjects],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_age: nanos(STREAM_MAX_AGE_MS),
      duplicate_window: nanos(settings.duplicateWindowMs),
      num_replicas: 1,
    }
    try {
      await jsm.streams.info(stream.name)
      await jsm.streams.update(stream.name, config)
    } catch (error) {
      if (!isApiError(error, NOT_FOUND)) throw error
      await jsm.streams.add({ name: stream.name, ...config }).catch(async (addError: unknown) => {
        // Another instance created it between our info() and add().
        await jsm.streams.info(stream.name).catch(() => {
          throw addError
        })
      })
    }
  }
}

export async function ensureConsumer(
  jsm: JetStreamManager,
  target: { stream: string; durable: string },
  settings: MessagingSettings,
): Promise<void> {
  const config = {
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(settings.ackWaitMs),
    max_deliver: settings.maxDeliver,
    // Many messages in flight per consumer; each is still acked only after its own commit.
    max_ack_pending: 2000,
  }
  try {
    await jsm.consumers.info(target.stream, target.durable)
    await jsm.consumers.update(target.stream, target.durable, config)
  } catch (error) {
    if (!isApiError(error, CONSUMER_NOT_FOUND)) throw error
    await jsm.consumers.add(target.stream, { durable_name: target.durable, deliver_policy: DeliverPolicy.All, ...config })
  }
}

export async function declareMessaging(
  nc: NatsConnection,
  consumer: { stream: string; durable: string },
  settings: MessagingSettings,
): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(nc)
  await ensureStreams(jsm, settings)
  await ensureConsumer(jsm, consumer, settings)
  return jsm
}

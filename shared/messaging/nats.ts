// The NATS connection and the declaration of streams and durable consumers.
// One owner per stream: the service that publishes to a stream declares and
// configures it (every instance at start, idempotently), so two services with
// different settings can never flip it back and forth. The consuming service
// declares its own durable consumer, after checking that the stream exists:
// if it does not, it says so in one line and waits (StreamMissingError).
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream'
import { connect, type NatsConnection, nanos } from '@nats-io/transport-node'
import { backoffMs } from '../backoff'
import type { Logger } from '../logger'
import { STREAMS, type StreamOwner } from './contracts'

export type { NatsConnection }

export async function connectNats(url: string, name: string, log: Logger): Promise<NatsConnection> {
  const nc = await connect({
    // NATS_URL may list every node of a cluster ("nats://a:4222,nats://b:4222"): the client fails over between them.
    servers: url.split(',').map((server) => server.trim()),
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
  /** Copies of each stream the publishing service declares: 1 on a single server, 3 on a three-node cluster. */
  streamReplicas: number
}

export const DEFAULT_MESSAGING: MessagingSettings = {
  duplicateWindowMs: 10 * 60_000,
  ackWaitMs: 30_000,
  maxDeliver: 20,
  streamReplicas: 1,
}

const STREAM_MAX_AGE_MS = 7 * 24 * 3600_000
const NOT_FOUND = 10059 // stream not found
/** A forming cluster whose meta leader does not yet know enough peers to place the replicas. */
const NO_PEERS_FOR_PLACEMENT = 10005
const CONSUMER_NOT_FOUND = 10014

function isApiError(error: unknown, code: number): boolean {
  return error instanceof JetStreamApiError && error.code === code
}

/** The consumed stream is not there (yet): its owner has not declared it on this NATS. */
export class StreamMissingError extends Error {
  constructor(
    readonly stream: string,
    readonly owner: string,
  ) {
    super(
      `stream ${stream} does not exist on this NATS: it is declared by the ${owner} service, which publishes to it; start ${owner} against the same NATS_URL`,
    )
    this.name = 'StreamMissingError'
  }
}

/** True for the answers a cluster gives while it elects a leader, is still gathering its peers, or is busy: worth asking again. */
export function isTransient(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name
  return (
    name === 'TimeoutError' ||
    name === 'NoRespondersError' ||
    (error instanceof JetStreamApiError && (error.status === 503 || error.code === NO_PEERS_FOR_PLACEMENT))
  )
}

/**
 * Declares (or updates to the declared config) the streams `owner` publishes
 * to. A stream already as declared is left alone, so N instances starting at
 * once do not each propose the same update to the cluster; a cluster that is
 * still electing its leaders is asked again for up to `patienceMs`.
 */
export async function ensureOwnStreams(
  jsm: JetStreamManager,
  owner: StreamOwner,
  settings: MessagingSettings,
  log: Logger,
  patienceMs = 60_000,
): Promise<void> {
  const started = Date.now()
  let toldAt = started
  for (let attempt = 1; ; attempt++) {
    try {
      return await declareOwnStreams(jsm, owner, settings)
    } catch (error) {
      if (!isTransient(error) || Date.now() - started > patienceMs) throw error
      // Quiet for the first seconds of a cluster's election; then a line every 5 s, so a start that waits says on what
      // (an error once it has waited 20 s: something is wrong with the cluster, not just slow).
      if (Date.now() - toldAt >= 5000) {
        toldAt = Date.now()
        const waitedMs = toldAt - started
        log[waitedMs >= 20_000 ? 'error' : 'warn']({ err: error, waitedMs, patienceMs }, 'NATS cannot take the streams yet; asking again')
      }
      await new Promise((resolve) => setTimeout(resolve, backoffMs(attempt, { baseMs: 200, maxMs: 2000 })))
    }
  }
}

async function declareOwnStreams(jsm: JetStreamManager, owner: StreamOwner, settings: MessagingSettings): Promise<void> {
  for (const stream of Object.values(STREAMS)) {
    if (stream.owner !== owner) continue
    const config = {
      subjects: [...stream.subjects],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_age: nanos(STREAM_MAX_AGE_MS),
      duplicate_window: nanos(settings.duplicateWindowMs),
      num_replicas: settings.streamReplicas,
    }
    let current: StreamConfig
    try {
      current = (await jsm.streams.info(stream.name)).config
    } catch (error) {
      if (!isApiError(error, NOT_FOUND)) throw error
      await jsm.streams.add({ name: stream.name, ...config }).catch(async (addError: unknown) => {
        // Another instance created it between our info() and add().
        await jsm.streams.info(stream.name).catch(() => {
          throw addError
        })
      })
      continue
    }
    const same =
      current.subjects?.join(' ') === config.subjects.join(' ') &&
      current.storage === config.storage &&
      current.retention === config.retention &&
      current.discard === config.discard &&
      current.max_age === config.max_age &&
      current.duplicate_window === config.duplicate_window &&
      current.num_replicas === config.num_replicas
    if (!same) await jsm.streams.update(stream.name, config)
  }
}

/** Declares the durable consumer on a stream owned by another service; StreamMissingError when that stream is not there. */
export async function ensureConsumer(jsm: JetStreamManager, target: { stream: string; durable: string }, settings: MessagingSettings): Promise<void> {
  try {
    await jsm.streams.info(target.stream)
  } catch (error) {
    if (!isApiError(error, NOT_FOUND)) throw error
    const owner = Object.values(STREAMS).find((s) => s.name === target.stream)?.owner ?? 'publishing'
    throw new StreamMissingError(target.stream, owner)
  }
  const config = {
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(settings.ackWaitMs),
    max_deliver: settings.maxDeliver,
    // Many messages in flight per consumer; each is still acked only after its own commit.
    max_ack_pending: 2000,
  }
  try {
    const current = (await jsm.consumers.info(target.stream, target.durable)).config
    // Left alone when already as declared (N instances start at once; each restart of pulling calls this).
    const same = current.ack_wait === config.ack_wait && current.max_deliver === config.max_deliver && current.max_ack_pending === config.max_ack_pending
    if (!same) await jsm.consumers.update(target.stream, target.durable, config)
  } catch (error) {
    if (!isApiError(error, CONSUMER_NOT_FOUND)) throw error
    await jsm.consumers.add(target.stream, { durable_name: target.durable, deliver_policy: DeliverPolicy.All, ...config })
  }
}

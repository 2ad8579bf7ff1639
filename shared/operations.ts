// GET /api/<service>/operations: aggregate, read-only figures of a service's
// messaging for the operations page. Any identified caller may read them: no
// user's data is in them (dead letters show subject, reason and time only).
import { jetstreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { desc, sql } from 'drizzle-orm'
import { Elysia } from 'elysia'
import type { Executor } from './db/client'
import { deadLetters } from './db/messaging-tables'
import { type Audience, identity, type IdentitySettings } from './identity'

export type OperationsReport = {
  service: string
  outbox: { pending: number; oldestPendingAgeSeconds: number }
  consumer: { stream: string; durable: string; pending: number; ackPending: number; redelivered: number } | { error: string }
  deadLetters: { count: number; latest: { id: number; subject: string; reason: string; deliveries: number; createdAt: string }[] }
}

export function operationsRoute(deps: {
  service: Audience
  prefix: string
  identity: IdentitySettings
  db: Executor
  nc: NatsConnection
  consumer: { stream: string; durable: string }
}) {
  async function consumerLag(): Promise<OperationsReport['consumer']> {
    try {
      const jsm = await jetstreamManager(deps.nc)
      const info = await jsm.consumers.info(deps.consumer.stream, deps.consumer.durable)
      return {
        ...deps.consumer,
        pending: info.num_pending,
        ackPending: info.num_ack_pending,
        redelivered: info.num_redelivered,
      }
    } catch (error) {
      return { error: error instanceof Error ? error.message : 'unavailable' }
    }
  }

  return new Elysia({ name: `${deps.service}.operations`, prefix: deps.prefix })
    .use(identity(deps.identity, deps.service))
    .get(
      '/operations',
      async (): Promise<OperationsReport> => {
        const [[outbox], [dead], latest, consumer] = await Promise.all([
          deps.db.execute<{ pending: string; age: string | null }>(
            sql`select count(*)::text as pending, extract(epoch from now() - min(created_at))::text as age from outbox where published_at is null`,
          ),
          deps.db.execute<{ n: string }>(sql`select count(*)::text as n from dead_letters`),
          deps.db
            .select({
              id: deadLetters.id,
              subject: deadLetters.subject,
              reason: deadLetters.reason,
              deliveries: deadLetters.deliveries,
              createdAt: deadLetters.createdAt,
            })
            .from(deadLetters)
            .orderBy(desc(deadLetters.id))
            .limit(20),
          consumerLag(),
        ])
        return {
          service: deps.service,
          outbox: { pending: Number(outbox?.pending ?? 0), oldestPendingAgeSeconds: Math.round(Number(outbox?.age ?? 0) * 1000) / 1000 },
          consumer,
          deadLetters: {
            count: Number(dead?.n ?? 0),
            latest: latest.map((d) => ({ ...d, createdAt: d.createdAt.toISOString() })),
          },
        }
      },
      { detail: { summary: 'Aggregate messaging figures (outbox backlog, consumer lag, dead letters)', tags: ['operations'] } },
    )
}

// GET /api/<service>/operations: aggregate, read-only figures of a service's
// messaging for the operations page. Any identified caller may read them: no
// user's data is in them (dead letters show subject, reason and time only).
import { jetstreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { desc } from 'drizzle-orm'
import { Elysia, t } from 'elysia'
import type { Executor } from './db/client'
import { deadLetterCount, outboxBacklog } from './db/messaging-figures'
import { deadLetters } from './db/messaging-tables'
import { operationDocs } from './http/api-docs'
import { identity } from './http/identity-plugin'
import type { Audience, IdentitySettings, ProofReplayCache } from './identity'
import { type Digest, DigestView } from './reconcile/digest'

const Count = t.Integer({ minimum: 0 })

export const OperationsReportView = t.Object({
  service: t.String(),
  outbox: t.Object({ pending: Count, oldestPendingAgeSeconds: t.Number({ minimum: 0 }) }),
  consumer: t.Union([
    t.Object({ stream: t.String(), durable: t.String(), pending: Count, ackPending: Count, redelivered: Count }),
    t.Object({ error: t.String({ description: 'Why the consumer could not be read' }) }),
  ]),
  deadLetters: t.Object({
    count: Count,
    latest: t.Array(t.Object({ id: t.Integer(), subject: t.String(), reason: t.String(), deliveries: Count, createdAt: t.String({ format: 'date-time' }) }), {
      description: 'The 20 latest, newest first',
    }),
  }),
  givenUp: t.Optional(
    t.Object(
      {
        count: Count,
        latest: t.Array(
          t.Object({ orderId: t.String(), asks: Count, createdAt: t.String({ format: 'date-time' }), gaveUpAt: t.String({ format: 'date-time' }) }),
        ),
      },
      { description: 'Orders only: orders still NEW that the stuck-order sweeper stopped asking for (orders/sweeper.ts)' },
    ),
  ),
})

export type OperationsReport = typeof OperationsReportView.static

export type GivenUpOrders = NonNullable<OperationsReport['givenUp']>

export function operationsRoute(deps: {
  service: Audience
  prefix: string
  identity: IdentitySettings
  proofReplays: ProofReplayCache
  db: Executor
  nc: NatsConnection
  consumer: { stream: string; durable: string }
  /** The service's own figures for the report, if it has any. */
  givenUp?: () => Promise<GivenUpOrders>
  /** Its side of the reconciliation digest (shared/reconcile/digest.ts). */
  digest: () => Promise<Digest>
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
    .model({ OperationsReport: OperationsReportView, Digest: DigestView })
    .use(identity(deps.identity, deps.service, deps.proofReplays))
    .get(
      '/operations',
      async (): Promise<OperationsReport> => {
        const [outbox, dead, latest, consumer, givenUp] = await Promise.all([
          outboxBacklog(deps.db),
          deadLetterCount(deps.db),
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
          deps.givenUp?.(),
        ])
        return {
          service: deps.service,
          outbox: { pending: outbox.pending, oldestPendingAgeSeconds: Math.round(outbox.oldestAgeSeconds * 1000) / 1000 },
          consumer,
          deadLetters: {
            count: dead,
            latest: latest.map((d) => ({ ...d, createdAt: d.createdAt.toISOString() })),
          },
          ...(givenUp ? { givenUp } : {}),
        }
      },
      {
        response: { 200: 'OperationsReport' },
        detail: {
          summary: 'Aggregate messaging figures (outbox backlog, consumer lag, dead letters)',
          description: "Any signed-in caller may read them: no user's data is in them.",
          tags: ['operations'],
          ...operationDocs({}),
        },
      },
    )
    .get('/operations/digest', () => deps.digest(), {
      response: { 200: 'Digest' },
      detail: {
        summary: 'This service’s side of the reconciliation digest (paid orders folded into buckets; no order leaves the service)',
        description:
          'The Operations page compares the orders and payments digests bucket by bucket; `bun run reconcile` finds the orders of a differing bucket. Reads the whole table: meant for an operator, not for polling.',
        tags: ['operations'],
        ...operationDocs({}),
      },
    })
}

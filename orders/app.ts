// The orders service: its HTTP app (createApp, testable without listening)
// and its place in the shared service wiring (ordersService).
import { join } from 'node:path'
import type { BackendSpec, ServiceDeps } from '../shared/backend-service'
import { databaseIsUp } from '../shared/db/client'
import { createServiceApp } from '../shared/http/service-app'
import { CONSUMERS } from '../shared/messaging/contracts'
import { natsIsUp } from '../shared/messaging/health'
import { operationsRoute } from '../shared/operations'
import { ordersDigest } from '../shared/reconcile/digest'
import { ordersController } from './controller'
import { handlePaymentResults, PAYMENT_RESULT_SUBJECTS, reannounceDuplicates } from './payment-results'
import { schema } from './schema'
import { countGivenUp, DEFAULT_SWEEPER, latestGivenUp, StuckOrderSweeper } from './sweeper'

export type OrdersDeps = ServiceDeps<typeof schema>

export function createApp(deps: OrdersDeps) {
  return createServiceApp({
    name: 'orders',
    apiPrefix: '/api/orders',
    description: 'Creates orders and follows their payment: NEW → FINISHED | CANCELLED.',
    log: deps.log,
    metrics: deps.metrics,
    bodyTimeoutMs: deps.config.bodyTimeoutMs,
    metricsToken: deps.config.metricsToken,
    identity: deps.identity,
    health: { database: () => databaseIsUp(deps.db.$client), nats: () => natsIsUp(deps.nc), consumer: async () => deps.consumerReady() },
  })
    .use(
      operationsRoute({
        service: 'orders',
        prefix: '/api/orders',
        db: deps.db,
        nc: deps.nc,
        consumer: CONSUMERS.orders,
        identity: deps.identity,
        proofReplays: deps.proofReplays,
        givenUp: async () => ({ count: await countGivenUp(deps.db), latest: await latestGivenUp(deps.db) }),
        digest: () => ordersDigest(deps.db),
      }),
    )
    .use(ordersController(deps))
}

export const ordersService: BackendSpec<typeof schema, (typeof PAYMENT_RESULT_SUBJECTS)[number]> = {
  name: 'orders',
  schema,
  migrationsFolder: join(import.meta.dir, '..', 'drizzle', 'orders'),
  consumes: { ...CONSUMERS.orders, subjects: PAYMENT_RESULT_SUBJECTS },
  handler: (deps) => handlePaymentResults(deps.nc, deps.metrics),
  duplicateHandler: (deps) => reannounceDuplicates(deps.nc),
  createApp,
  background: (deps, config) =>
    new StuckOrderSweeper(
      { db: deps.db, log: deps.log, outboxWritten: deps.outboxWritten, metrics: deps.metrics },
      { ...DEFAULT_SWEEPER, ...config.sweeper, intervalMs: Math.min(DEFAULT_SWEEPER.intervalMs, config.sweeper.stuckAfterMs) },
    ),
}

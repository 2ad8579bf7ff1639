// The payments service: its HTTP app (createApp, testable without listening)
// and its place in the shared service wiring (paymentsService).
import { join } from 'node:path'
import type { BackendSpec, ServiceDeps } from '../shared/backend-service'
import { databaseIsUp } from '../shared/db/client'
import { createServiceApp } from '../shared/http/service-app'
import { CONSUMERS, SUBJECTS } from '../shared/messaging/contracts'
import { natsIsUp } from '../shared/messaging/health'
import { operationsRoute } from '../shared/operations'
import { paymentsDigest } from '../shared/reconcile/digest'
import { paymentsController } from './controller'
import { handlePaymentRequests } from './payment-requests'
import { schema } from './schema'

export type PaymentsDeps = ServiceDeps<typeof schema>

export function createApp(deps: PaymentsDeps) {
  return createServiceApp({
    name: 'payments',
    apiPrefix: '/api/payments',
    description: 'One account per user: top-ups, balance, statement; charges each order exactly once.',
    log: deps.log,
    metrics: deps.metrics,
    bodyTimeoutMs: deps.config.bodyTimeoutMs,
    metricsToken: deps.config.metricsToken,
    identity: deps.identity,
    health: { database: () => databaseIsUp(deps.db.$client), nats: () => natsIsUp(deps.nc), consumer: async () => deps.consumerReady() },
  })
    .use(
      operationsRoute({
        service: 'payments',
        prefix: '/api/payments',
        db: deps.db,
        nc: deps.nc,
        consumer: CONSUMERS.payments,
        identity: deps.identity,
        proofReplays: deps.proofReplays,
        digest: () => paymentsDigest(deps.db),
      }),
    )
    .use(paymentsController(deps))
}

export const paymentsService: BackendSpec<typeof schema, typeof SUBJECTS.paymentRequested> = {
  name: 'payments',
  schema,
  migrationsFolder: join(import.meta.dir, '..', 'drizzle', 'payments'),
  // Charges lock the account row: handle a batch in account order (no deadlocks).
  consumes: { ...CONSUMERS.payments, subjects: [SUBJECTS.paymentRequested], lockKey: (m) => m.payload.userId },
  handler: (deps) => handlePaymentRequests(deps.outboxWritten),
  createApp,
}

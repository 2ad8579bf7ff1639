// HTTP routes of the orders API, mounted at /api/orders.

import type { SQL } from 'drizzle-orm'
import { Elysia } from 'elysia'
import type { ServiceDeps } from '../shared/backend-service'
import { AppError } from '../shared/errors'
import { operationDocs } from '../shared/http/api-docs'
import { idempotent, readIdempotencyKey } from '../shared/http/idempotency'
import { identity } from '../shared/http/identity-plugin'
import { claimProofNonce, claimProofNonceWithin } from '../shared/http/proof-nonces'
import { RateLimiter } from '../shared/http/rate-limit'
import { spanOf } from '../shared/http/request-spans'
import { requestId } from '../shared/http/service-app'
import { traceparentOf } from '../shared/tracing'
import { type OrderView, ordersModels } from './model'
import type { schema } from './schema'
import { type CreatedOrder, createOrder, getOrder, listOrders } from './service'

export function ordersController(
  deps: Pick<ServiceDeps<typeof schema>, 'db' | 'log' | 'outboxWritten' | 'rateLimit' | 'identity' | 'proofReplays' | 'config'>,
) {
  const limiter = new RateLimiter(deps.db.$client, 'orders.create', deps.rateLimit)
  return new Elysia({ name: 'orders.controller', prefix: '/api/orders', detail: { tags: ['orders'] } })
    .use(ordersModels)
    .use(requestId)
    .use(identity(deps.identity, 'orders', deps.proofReplays))
    .post(
      '',
      async ({ body, userId, proof, requestId, set, request }) => {
        let written: CreatedOrder['message'] | undefined
        // The proof's nonce is claimed for every instance (shared/http/proof-nonces.ts): with a key, on its own
        // first (committed whatever the work does); without, in the order's own statement.
        const keyed = readIdempotencyKey(request.headers) !== undefined
        if (proof && keyed) await claimProofNonce(deps.db, proof)
        const nonce = proof && !keyed ? claimProofNonceWithin(proof) : undefined
        const result = await idempotent(deps.db, { headers: request.headers, userId, route: 'POST /api/orders', body }, 201, async (db) => {
          // The limit's take (and the nonce) ride in the order's own statement: one round trip, one commit.
          // The order's trace goes on with its outbox row (shared/tracing.ts): the relay's publish is a child of this request.
          const input = { userId, amount: body.amount, description: body.description, requestId, traceContext: traceparentOf(spanOf(request)) }
          const guards = { take: (onlyIf: SQL) => limiter.takeWithin(userId, onlyIf), nonce }
          const created = await createOrder(db, input, deps.config.sweeper.stuckAfterMs, guards)
          if (!('refused' in created)) {
            written = created.message
            return created.order
          }
          if (created.refused === 'proof_replayed') throw new AppError('identity_proof_required')
          return limiter.refuseWith(created.tokensLeft, set)
        })
        if (written) {
          spanOf(request)?.setAttribute('gozon.order_id', written.payload.orderId)
          deps.outboxWritten([written])
          deps.log.info({ orderId: written.payload.orderId, userId, amount: body.amount, requestId }, 'order created')
        }
        set.status = result.status
        if (result.replayed) set.headers['idempotent-replayed'] = 'true'
        return result.body as OrderView
      },
      {
        body: 'CreateOrderBody',
        response: { 201: 'Order' },
        detail: {
          summary: 'Create an order; payment starts asynchronously',
          description:
            "The order is created `NEW`; it becomes `FINISHED` or `CANCELLED` once its payment is decided (poll GET /api/orders/{id}, or listen on the gateway's WebSocket /api/orders/live). Send an Idempotency-Key header (1-255 printable ASCII) to make retries safe: the same key and body replay the first response.",
          ...operationDocs({ jsonBody: true, idempotencyKey: true, rateLimited: true }),
        },
      },
    )
    .get('', ({ query, userId }) => listOrders(deps.db, userId, { limit: query.limit ?? 50, cursor: query.cursor, status: query.status }), {
      query: 'ListOrdersQuery',
      response: { 200: 'OrderPage' },
      detail: {
        summary: "The caller's orders, newest first; ?status= keeps one status",
        ...operationDocs({ errors: ['validation_failed', 'invalid_cursor'] }),
      },
    })
    .get('/:id', ({ params, userId }) => getOrder(deps.db, userId, params.id), {
      response: { 200: 'Order' },
      detail: { summary: 'One of the caller’s orders', ...operationDocs({ errors: ['order_not_found'] }) },
    })
}

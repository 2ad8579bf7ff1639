// HTTP routes of the payments API, mounted at /api/payments.

import { Elysia } from 'elysia'
import type { ServiceDeps } from '../shared/backend-service'
import { operationDocs } from '../shared/http/api-docs'
import { idempotent } from '../shared/http/idempotency'
import { identity } from '../shared/http/identity-plugin'
import { claimProofNonceWithin } from '../shared/http/proof-nonces'
import { RateLimiter } from '../shared/http/rate-limit'
import { getAccount, listTransactions, openAccount, topUp } from './accounts'
import { type BalanceView, paymentsModels } from './model'
import type { schema } from './schema'

export function paymentsController(deps: Pick<ServiceDeps<typeof schema>, 'db' | 'rateLimit' | 'identity' | 'proofReplays'>) {
  const limiter = new RateLimiter(deps.db.$client, 'payments.top-up', deps.rateLimit)
  return new Elysia({ name: 'payments.controller', prefix: '/api/payments/account', detail: { tags: ['payments'] } })
    .use(paymentsModels)
    .use(identity(deps.identity, 'payments', deps.proofReplays))
    .post(
      '',
      async ({ userId, set }) => {
        const { account, created } = await openAccount(deps.db, userId)
        set.status = created ? 201 : 200
        return account
      },
      {
        response: { 200: 'Account', 201: 'Account' },
        detail: { summary: "Open the caller's account (201), or return it if it exists (200)", ...operationDocs({}) },
      },
    )
    .get('', ({ userId }) => getAccount(deps.db, userId), {
      response: { 200: 'Account' },
      detail: { summary: "The caller's account and balance", ...operationDocs({ errors: ['account_not_found'] }) },
    })
    .post(
      '/top-up',
      async ({ userId, proof, body, request, set }) => {
        // The proof's nonce is claimed for every instance with the limit's take, in its statement: committed whatever follows.
        await limiter.take(userId, set, proof && claimProofNonceWithin(proof))
        const route = 'POST /api/payments/account/top-up'
        const result = await idempotent(deps.db, { headers: request.headers, userId, route, body }, 200, (db) => topUp(db, userId, body.amount))
        set.status = result.status
        if (result.replayed) set.headers['idempotent-replayed'] = 'true'
        return result.body as typeof BalanceView.static
      },
      {
        body: 'TopUpBody',
        response: { 200: 'Balance' },
        detail: {
          summary: 'Add money (minor units); the balance is capped at 10^15',
          description: 'Send an Idempotency-Key header to make retries safe: the same key and body replay the first response.',
          ...operationDocs({ jsonBody: true, idempotencyKey: true, rateLimited: true, errors: ['account_not_found', 'balance_limit_exceeded'] }),
        },
      },
    )
    .get('/transactions', ({ userId, query }) => listTransactions(deps.db, userId, { limit: query.limit ?? 100, before: query.before }), {
      query: 'TransactionsQuery',
      response: { 200: 'Statement' },
      detail: { summary: 'The statement (ledger), newest first', ...operationDocs({ errors: ['account_not_found', 'validation_failed'] }) },
    })
}

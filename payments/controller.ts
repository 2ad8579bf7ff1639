// HTTP routes of the payments API, mounted at /api/payments.
import { Elysia } from 'elysia'
import type { Database } from '../shared/db/client'
import { identity } from '../shared/identity'
import { getAccount, listTransactions, openAccount, topUp } from './accounts'
import { AccountView, BalanceView, LedgerEntryView, TopUpBody, TransactionsQuery } from './model'
import type { schema } from './schema'
import { Type } from '@sinclair/typebox'

export function paymentsController(deps: { db: Database<typeof schema> }) {
  return new Elysia({ name: 'payments.controller', prefix: '/api/payments/account', detail: { tags: ['payments'] } })
    .use(identity)
    .post(
      '',
      async ({ userId, set }) => {
        const { account, created } = await openAccount(deps.db, userId)
        set.status = created ? 201 : 200
        return account
      },
      {
        response: { 200: AccountView, 201: AccountView },
        detail: { summary: "Open the caller's account (201), or return it if it exists (200)" },
      },
    )
    .get('', ({ userId }) => getAccount(deps.db, userId), {
      response: { 200: AccountView },
      detail: { summary: "The caller's account and balance" },
    })
    .post('/top-up', ({ userId, body }) => topUp(deps.db, userId, body.amount), {
      body: TopUpBody,
      response: { 200: BalanceView },
      detail: { summary: 'Add money (minor units); the balance is capped at 10^15' },
    })
    .get(
      '/transactions',
      ({ userId, query }) => listTransactions(deps.db, userId, { limit: query.limit ?? 100, before: query.before }),
      {
        query: TransactionsQuery,
        response: { 200: Type.Array(LedgerEntryView) },
        detail: { summary: 'The statement (ledger), newest first' },
      },
    )
}

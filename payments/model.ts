// Request and response shapes of the payments API, in Elysia's `t`, registered
// once as named models (paymentsModels) that the routes refer to by name.
import { Elysia, t } from 'elysia'
import type { AccountView as AccountJson, LedgerEntryView as LedgerEntryJson } from '../shared/api-types'
import { Amount } from '../shared/money'

export const TopUpBody = t.Object({ amount: Amount }, { additionalProperties: false })

export const TransactionsQuery = t.Object(
  {
    limit: t.Optional(t.Integer({ minimum: 1, maximum: 500, default: 100 })),
    before: t.Optional(t.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'Only entries with an id below this (for paging)' })),
  },
  { additionalProperties: false },
)

const Timestamp = t.String({ format: 'date-time' })

export const AccountView = t.Object({ userId: t.String(), balance: t.Integer(), createdAt: Timestamp })
export const BalanceView = t.Object({ userId: t.String(), balance: t.Integer() })
export const LedgerEntryView = t.Object({
  id: t.Integer(),
  kind: t.Union([t.Literal('top_up'), t.Literal('payment')]),
  amount: t.Integer(),
  orderId: t.Optional(t.String({ format: 'uuid' })),
  balanceAfter: t.Integer(),
  createdAt: Timestamp,
})

/** The payments API's models, by the names its routes use. */
export const paymentsModels = new Elysia({ name: 'payments.models' }).model({
  TopUpBody,
  TransactionsQuery,
  Account: AccountView,
  Balance: BalanceView,
  Statement: t.Array(LedgerEntryView),
})

/** The JSON shapes (shared/api-types.ts) under their schemas' names. */
export type AccountView = AccountJson
export type LedgerEntryView = LedgerEntryJson

// Request and response shapes of the payments API (TypeBox; also the OpenAPI doc).
import { Type } from '@sinclair/typebox'
import { t } from 'elysia'
import type { AccountView as AccountJson, LedgerEntryView as LedgerEntryJson } from '../shared/api-types'
import { Amount } from '../shared/money'

export const TopUpBody = Type.Object({ amount: Amount }, { additionalProperties: false })

export const TransactionsQuery = t.Object(
  {
    limit: t.Optional(t.Integer({ minimum: 1, maximum: 500, default: 100 })),
    before: t.Optional(t.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'Only entries with an id below this (for paging)' })),
  },
  { additionalProperties: false },
)

const Timestamp = Type.String({ format: 'date-time' })

export const AccountView = Type.Object({ userId: Type.String(), balance: Type.Integer(), createdAt: Timestamp })
export const BalanceView = Type.Object({ userId: Type.String(), balance: Type.Integer() })
export const LedgerEntryView = Type.Object({
  id: Type.Integer(),
  kind: Type.Union([Type.Literal('top_up'), Type.Literal('payment')]),
  amount: Type.Integer(),
  orderId: Type.Optional(Type.String({ format: 'uuid' })),
  balanceAfter: Type.Integer(),
  createdAt: Timestamp,
})

/** The JSON shapes (shared/api-types.ts) under their schemas' names. */
export type AccountView = AccountJson
export type LedgerEntryView = LedgerEntryJson

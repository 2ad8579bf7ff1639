// The JSON the public API returns, as TypeScript types: produced by the
// services (orders/model.ts, payments/model.ts hold the matching schemas for
// validation and OpenAPI) and read by the gateway's pages.
import type { FailureReason } from './messaging/contracts'

export type OrderStatus = 'NEW' | 'FINISHED' | 'CANCELLED'

/** An order's description: at most this many characters (Unicode code points; an emoji is one), in the API, the pages and the database. */
export const DESCRIPTION_MAX_CHARACTERS = 200

export type OrderView = {
  id: string
  userId: string
  amount: number
  description: string | null
  status: OrderStatus
  reason: FailureReason | null
  createdAt: string
  updatedAt: string
}

export type OrderPageView = { items: OrderView[]; nextCursor: string | null }

export type AccountView = { userId: string; balance: number; createdAt: string }

export type LedgerEntryView = {
  id: number
  kind: 'top_up' | 'payment'
  amount: number
  orderId?: string
  balanceAfter: number
  createdAt: string
}

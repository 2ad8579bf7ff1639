// Request and response shapes of the orders API, in Elysia's `t`, registered
// once as named models (ordersModels) that the routes refer to by name; the
// OpenAPI document lists them under components.schemas.
import { Elysia, t } from 'elysia'
import { DESCRIPTION_MAX_CHARACTERS, type OrderView as OrderJson } from '../shared/api-types'
import { PROBLEM_KEYWORD } from '../shared/http/validation-messages'
import { Amount } from '../shared/money'
import type { OrderRow } from './schema'

// At most 200 characters of well-formed text: each character (code point) is
// one element of the pattern, either a character outside the surrogates or a
// surrogate pair (an emoji), so an emoji counts as one, as in PostgreSQL's
// varchar(200); no NUL (PostgreSQL cannot store it) and no lone surrogate (it
// would be stored as U+FFFD). maxLength (UTF-16 units) is only a cheap bound.
const DescriptionText = `^(?:[^\\u0000\\uD800-\\uDFFF]|[\\uD800-\\uDBFF][\\uDC00-\\uDFFF]){0,${DESCRIPTION_MAX_CHARACTERS}}$`

export const CreateOrderBody = t.Object(
  {
    amount: Amount,
    description: t.Optional(
      t.String({
        maxLength: DESCRIPTION_MAX_CHARACTERS * 2,
        pattern: DescriptionText,
        description: `Free text, at most ${DESCRIPTION_MAX_CHARACTERS} characters (an emoji is one)`,
        [PROBLEM_KEYWORD]: `Use at most ${DESCRIPTION_MAX_CHARACTERS} characters, without NUL characters or unpaired surrogates.`,
      }),
    ),
  },
  { additionalProperties: false },
)

export const ListOrdersQuery = t.Object(
  {
    // Query strings are text by nature, so here "20" is read as 20.
    limit: t.Optional(t.Integer({ minimum: 1, maximum: 100, default: 50 })),
    cursor: t.Optional(t.String({ maxLength: 200 })),
    status: t.Optional(t.Union([t.Literal('NEW'), t.Literal('FINISHED'), t.Literal('CANCELLED')])),
  },
  { additionalProperties: false },
)

const Timestamp = t.String({ format: 'date-time' })

export const OrderView = t.Object({
  id: t.String({ format: 'uuid' }),
  userId: t.String(),
  amount: t.Integer(),
  description: t.Union([t.String(), t.Null()]),
  status: t.Union([t.Literal('NEW'), t.Literal('FINISHED'), t.Literal('CANCELLED')]),
  reason: t.Union([t.Null(), t.Literal('insufficient_funds'), t.Literal('account_not_found')]),
  createdAt: Timestamp,
  updatedAt: Timestamp,
})

export const OrderPage = t.Object({
  items: t.Array(OrderView),
  nextCursor: t.Union([t.String(), t.Null()], { description: 'Pass as ?cursor= for the next page; null on the last page' }),
})

/** The orders API's models, by the names its routes use. */
export const ordersModels = new Elysia({ name: 'orders.models' }).model({
  CreateOrderBody,
  ListOrdersQuery,
  Order: OrderView,
  OrderPage,
})

/** The JSON shape (shared/api-types.ts) under the schema's name. */
export type OrderView = OrderJson

export function toOrderView(row: OrderRow): OrderView {
  return {
    id: row.id,
    userId: row.userId,
    amount: row.amount,
    description: row.description,
    status: row.status,
    reason: row.reason as OrderView['reason'],
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  }
}

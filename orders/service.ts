// Orders business logic: plain functions over the database, no HTTP context.
import { and, desc, eq, lt, or, type SQL, sql } from 'drizzle-orm'
import { arrayParam, type Database, type Executor, runPrepared } from '../shared/db/client'
import { AppError } from '../shared/errors'
import type { EmbeddedTake } from '../shared/http/rate-limit'
import { messageIds, type OrderStatusChanged, SUBJECTS, UUID_PATTERN } from '../shared/messaging/contracts'
import { insertOutboxRow, type OutgoingMessage } from '../shared/messaging/outbox'
import { type OrderView, toOrderView } from './model'
import { type OrderRow, orders, type schema } from './schema'

type OrdersDb = Database<typeof schema>
const isUuid = (value: string) => new RegExp(UUID_PATTERN).test(value)

/**
 * Writes the order and its PaymentRequested outbox row atomically: both
 * inserts are parts of one statement, so they commit together (one implicit
 * transaction, one round trip) or not at all.
 */
/** What a new order's statement checks in the same round trip. */
export type OrderGuards = {
  /** The rate limit's take (RateLimiter.takeWithin), given the condition it must wait for: no token, no order. */
  take?: (onlyIf: SQL) => EmbeddedTake
  /** claimProofNonceWithin(): a proof already used at any instance, no order, and no token taken. */
  nonce?: SQL
}

export type CreatedOrder = { order: OrderView; message: OutgoingMessage<typeof SUBJECTS.paymentRequested> }

/**
 * One statement: the guards, the order and its outbox row (CTEs), so one
 * round trip and one commit. A refusal writes no order and no outbox row and
 * says which guard refused; the guards' own rows (a nonce claimed, a token
 * taken) are written whenever their own conditions hold.
 */
export async function createOrder(
  db: Executor,
  input: { userId: string; amount: number; description?: string; requestId?: string; traceContext?: string },
  /** When the stuck-order sweeper asks again if no answer came (orders/sweeper.ts). */
  firstAskAfterMs: number,
  guards: OrderGuards = {},
): Promise<CreatedOrder | { refused: 'proof_replayed' } | { refused: 'rate_limited'; tokensLeft: number }> {
  const id = Bun.randomUUIDv7()
  const description = input.description ?? null
  const message: OutgoingMessage<typeof SUBJECTS.paymentRequested> = {
    id: messageIds.paymentRequested(id),
    subject: SUBJECTS.paymentRequested,
    payload: { orderId: id, userId: input.userId, amount: input.amount, askedAt: Date.now() },
    requestId: input.requestId,
    traceContext: input.traceContext,
  }
  const nonce = guards.nonce ?? sql`select 1`
  const take = guards.take?.(sql`exists (select 1 from fresh_proof)`) ?? { statement: sql`select 1`, tokensLeft: sql`1` }
  const rows = await runPrepared<{ taken: boolean; fresh_proof: boolean; tokens: number; created_at: string | null }>(
    db,
    'orders.create',
    sql`
    with fresh_proof as (${nonce}),
    taken as (${take.statement}),
    created as (
      insert into ${orders} (id, user_id, amount, description, next_ask_at)
      select ${id}, ${input.userId}, ${input.amount}, ${description}, now() + make_interval(secs => ${firstAskAfterMs / 1000})
      where exists (select 1 from taken) and exists (select 1 from fresh_proof)
      returning created_at
    ),
    payment_requested as (
      ${insertOutboxRow(message, sql`exists (select 1 from created)`)}
    )
    select exists (select 1 from taken) as taken, exists (select 1 from fresh_proof) as fresh_proof, ${take.tokensLeft} as tokens,
           (select to_json(created_at) #>> '{}' from created) as created_at`,
  )
  const result = rows[0]!
  if (!result.fresh_proof) return { refused: 'proof_replayed' }
  if (!result.taken || result.created_at === null) return { refused: 'rate_limited', tokensLeft: Number(result.tokens) }
  const createdAt = new Date(result.created_at).toISOString()
  const order: OrderView = { id, userId: input.userId, amount: input.amount, description, status: 'NEW', reason: null, createdAt, updatedAt: createdAt }
  return { order, message }
}

/** Another user's order and a missing one look the same: 404 either way. */
export async function getOrder(db: OrdersDb, userId: string, id: string): Promise<OrderView> {
  if (!isUuid(id)) throw new AppError('order_not_found')
  const [row] = await db
    .select()
    .from(orders)
    .where(and(eq(orders.id, id), eq(orders.userId, userId)))
  if (!row) throw new AppError('order_not_found')
  return toOrderView(row)
}

type Cursor = { createdAt: Date; id: string }

export function encodeCursor(order: Pick<OrderView, 'createdAt' | 'id'>): string {
  return Buffer.from(JSON.stringify([order.createdAt, order.id])).toString('base64url')
}

export function decodeCursor(cursor: string): Cursor {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[]
    const date = new Date(String(createdAt))
    if (typeof createdAt !== 'string' || Number.isNaN(date.getTime()) || typeof id !== 'string' || !isUuid(id)) {
      throw new Error('bad cursor')
    }
    return { createdAt: date, id }
  } catch {
    throw new AppError('invalid_cursor')
  }
}

/** The caller's orders, newest first, a page at a time (keyset pagination). */
export async function listOrders(
  db: OrdersDb,
  userId: string,
  page: { limit: number; cursor?: string; status?: OrderRow['status'] },
): Promise<{ items: OrderView[]; nextCursor: string | null }> {
  const after = page.cursor ? decodeCursor(page.cursor) : undefined
  const rows = await db
    .select()
    .from(orders)
    .where(
      and(
        eq(orders.userId, userId),
        page.status ? eq(orders.status, page.status) : undefined,
        after ? or(lt(orders.createdAt, after.createdAt), and(eq(orders.createdAt, after.createdAt), lt(orders.id, after.id))) : undefined,
      ),
    )
    .orderBy(desc(orders.createdAt), desc(orders.id))
    .limit(page.limit + 1)
  const items = rows.slice(0, page.limit).map(toOrderView)
  const last = items.at(-1)
  return { items, nextCursor: rows.length > page.limit && last ? encodeCursor(last) : null }
}

export type PaymentResult =
  | { orderId: string; userId: string; outcome: 'succeeded' }
  | { orderId: string; userId: string; outcome: 'failed'; reason: 'insufficient_funds' | 'account_not_found' }

type ChangedRow = {
  id: string
  user_id: string
  amount: string
  description: string | null
  status: 'FINISHED' | 'CANCELLED'
  reason: OrderStatusChanged['reason']
  created_at: string
  updated_at: string
}

/** UUIDs as one uuid[] parameter, so the planner looks them up by primary key. */
const uuidArray = (ids: string[]) => arrayParam(ids, 'uuid')

const ANNOUNCED_COLUMNS = sql`o.id, o.user_id, o.amount::text, o.description, o.status, o.reason,
              to_json(o.created_at) #>> '{}' as created_at, to_json(o.updated_at) #>> '{}' as updated_at`

const toStatusChange = (row: ChangedRow): OrderStatusChanged => ({
  orderId: row.id,
  userId: row.user_id,
  amount: Number(row.amount),
  description: row.description,
  status: row.status,
  reason: row.reason,
  createdAt: new Date(row.created_at).toISOString(),
  updatedAt: new Date(row.updated_at).toISOString(),
})

/**
 * Moves each order out of NEW, once, in one statement for the whole batch:
 * the `status = 'NEW'` condition makes a final status final. Returns the
 * changes to announce; an order already final (or unknown) is left out.
 */
export async function applyPaymentResults(tx: Executor, results: PaymentResult[]): Promise<OrderStatusChanged[]> {
  const rows = results.map((r) => ({
    order_id: r.orderId,
    user_id: r.userId,
    status: r.outcome === 'succeeded' ? 'FINISHED' : 'CANCELLED',
    reason: r.outcome === 'succeeded' ? null : r.reason,
  }))
  const changed = await runPrepared<ChangedRow>(
    tx,
    'orders.apply-results',
    sql`
    update ${orders} as o
    set status = r.status, reason = r.reason, updated_at = now()
    from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as r(order_id uuid, user_id text, status text, reason text)
    where o.id = r.order_id and o.user_id = r.user_id and o.status = 'NEW'
      -- Lets the planner look the orders up by primary key (ids are UUIDs: a plain array literal).
      and o.id = any(${uuidArray(results.map((r) => r.orderId))})
    returning ${ANNOUNCED_COLUMNS}`,
  )
  return changed.map(toStatusChange)
}

/**
 * The final status of those of the orders that have one, to announce again:
 * a result for an order already final (a re-sent answer, a redelivery after
 * a crash past commit) may be all that is left of an announcement that a
 * crash cut off. Announcing a final status twice is harmless.
 */
export async function finalStatuses(tx: Executor, orderIds: string[]): Promise<OrderStatusChanged[]> {
  if (orderIds.length === 0) return []
  const rows = await runPrepared<ChangedRow>(
    tx,
    'orders.final-statuses',
    sql`
    select ${ANNOUNCED_COLUMNS} from ${orders} as o
    where o.id = any(${uuidArray(orderIds)}) and o.status <> 'NEW'`,
  )
  return rows.map(toStatusChange)
}

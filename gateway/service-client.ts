// The gateway's client of the orders and payments APIs, used by the pages and
// the live sockets. It speaks the same public API as any other client, with
// the shopper's identity proven as for any proxied request (shared/identity.ts):
// the gateway holds no business logic.
import type { AccountView } from '../shared/api-types'
import type { ErrorBody } from '../shared/errors'
import { IDEMPOTENCY_HEADER } from '../shared/http/idempotency'
import { bodyDigest, type IdentitySettings, identityHeaders } from '../shared/identity'
import type { OperationsReport } from '../shared/operations'
import type { Digest } from '../shared/reconcile/digest'
import type { LedgerEntry } from '../views/account'
import type { Order } from '../views/orders'
import type { Upstream } from './proxy'

export type Account = AccountView
export type OrderPage = { items: Order[]; nextCursor: string | null }

export type Result<T> =
  | { ok: true; status: number; body: T }
  /**
   * `error`: the service's error body. Without one, `unanswered` says why
   * (502): no answer within the timeout, or the service could not be reached
   * or the connection failed. Either way the request may have been done.
   */
  | { ok: false; status: number; error: ErrorBody | undefined; unanswered?: 'timeout' | 'unreachable' }

export class ServiceClient {
  constructor(
    private readonly upstreams: { orders: Upstream; payments: Upstream },
    /** Writes wait as long as a proxied request; reads (what a page shows) give up sooner, and the page says so. */
    private readonly timeouts: { writeMs: number; readMs: number },
    private readonly identity: IdentitySettings,
  ) {}

  private async call<T>(
    service: 'orders' | 'payments',
    method: string,
    path: string,
    userId: string,
    body?: unknown,
    idempotencyKey?: string,
  ): Promise<Result<T>> {
    const text = body === undefined ? undefined : JSON.stringify(body)
    const headers: Record<string, string> = identityHeaders(this.identity, service, userId, { method, pathAndQuery: path, bodyDigest: bodyDigest(text) })
    if (idempotencyKey) headers[IDEMPOTENCY_HEADER] = idempotencyKey
    if (text !== undefined) headers['content-type'] = 'application/json'
    try {
      const response = await fetch(`${this.upstreams[service].baseUrl}${path}`, {
        method,
        headers,
        body: text,
        signal: AbortSignal.timeout(method === 'GET' ? this.timeouts.readMs : this.timeouts.writeMs),
      })
      // A success whose body cannot be read (it timed out too) is as unknown as no answer.
      const parsed = (await response.json().catch((error: unknown) => {
        if (response.ok) throw error
        return undefined
      })) as unknown
      if (response.ok) return { ok: true, status: response.status, body: parsed as T }
      return { ok: false, status: response.status, error: parsed as ErrorBody | undefined }
    } catch (error) {
      const timeout = error instanceof DOMException && error.name === 'TimeoutError'
      return { ok: false, status: 502, error: undefined, unanswered: timeout ? 'timeout' : 'unreachable' }
    }
  }

  listOrders(userId: string, query: { limit?: number; status?: Order['status']; cursor?: string } = {}) {
    const params = new URLSearchParams()
    if (query.limit) params.set('limit', String(query.limit))
    if (query.status) params.set('status', query.status)
    if (query.cursor) params.set('cursor', query.cursor)
    const search = params.size > 0 ? `?${params}` : ''
    return this.call<OrderPage>('orders', 'GET', `/api/orders${search}`, userId)
  }

  getOrder(userId: string, orderId: string) {
    return this.call<Order>('orders', 'GET', `/api/orders/${encodeURIComponent(orderId)}`, userId)
  }

  createOrder(userId: string, input: { amount: number; description?: string }, idempotencyKey?: string) {
    return this.call<Order>('orders', 'POST', '/api/orders', userId, input, idempotencyKey)
  }

  getAccount(userId: string) {
    return this.call<Account>('payments', 'GET', '/api/payments/account', userId)
  }

  openAccount(userId: string) {
    return this.call<Account>('payments', 'POST', '/api/payments/account', userId)
  }

  topUp(userId: string, amount: number, idempotencyKey?: string) {
    return this.call<{ userId: string; balance: number }>('payments', 'POST', '/api/payments/account/top-up', userId, { amount }, idempotencyKey)
  }

  /** Up to `limit` lines, newest first; older than the entry `before` when given. */
  statement(userId: string, page: { limit: number; before?: number }) {
    const query = new URLSearchParams({ limit: String(page.limit) })
    if (page.before !== undefined) query.set('before', String(page.before))
    return this.call<LedgerEntry[]>('payments', 'GET', `/api/payments/account/transactions?${query}`, userId)
  }

  operations(userId: string, service: 'orders' | 'payments') {
    return this.call<OperationsReport>(service, 'GET', `/api/${service}/operations`, userId)
  }

  /** The service's side of the reconciliation digest (shared/reconcile/digest.ts). */
  digest(userId: string, service: 'orders' | 'payments') {
    return this.call<Digest>(service, 'GET', `/api/${service}/operations/digest`, userId)
  }

  /** Minor units; null when the user has no account; undefined when payments did not answer. */
  async balance(userId: string): Promise<number | null | undefined> {
    const account = await this.getAccount(userId)
    if (account.ok) return account.body.balance
    return account.status === 404 ? null : undefined
  }

  /** Every NEW order of the user, a page at a time. */
  async newOrders(userId: string): Promise<Order[] | undefined> {
    const orders: Order[] = []
    let cursor: string | undefined
    for (let page = 0; page < 100; page++) {
      const result = await this.listOrders(userId, { limit: 100, status: 'NEW', cursor })
      if (!result.ok) return undefined
      orders.push(...result.body.items)
      if (!result.body.nextCursor) break
      cursor = result.body.nextCursor
    }
    return orders
  }
}

// Live status push. Every gateway instance subscribes to the orders service's
// announcements on NATS (core pub/sub, so each instance gets every change)
// and forwards each change to its own sockets of that shopper only:
//   page sockets get HTML fragments (the order, the balance) swapped out of band;
//   API sockets (/api/orders/live) get {orderId, status, reason, updatedAt}.
//
// Nothing is missed and nothing goes back in time: a socket is registered
// before its snapshot is read, changes that arrive meanwhile are queued, and
// the queue is flushed after the snapshot. Final statuses never change, so a
// queued change is never older than the snapshot it follows.
//
// Core pub/sub delivers only while connected: when this gateway's NATS
// connection comes back (its node died, the client failed over), whatever was
// announced in the gap is gone. So on every reconnect each page socket is
// sent its snapshot again, the same way (queue, read, flush), and each API
// socket is closed with 1012 so that its client reconnects and reads again.
import type { NatsConnection, Subscription } from '@nats-io/transport-node'
import type { Logger } from '../shared/logger'
import { decodeMessage, type OrderStatusChanged, SUBJECTS } from '../shared/messaging/contracts'
import { type Context, contextFrom, endSpan, type Span, SpanKind, startSpan } from '../shared/tracing'
import { renderBalance } from '../views/account'
import { html } from '../views/html'
import type { Currency } from '../views/money'
import { type Order, renderOrder } from '../views/orders'
import type { ServiceClient } from './service-client'

export type LiveSocket = {
  kind: 'page' | 'api'
  userId: string
  send(text: string): void
  close(code: number, reason: string): void
}

/** Reads what a socket is sent on (re)connect: the current state of what it shows. */
export type SnapshotReader = () => Promise<string[]>

/** `generation`: which snapshot read is the latest; an older one that finishes later is dropped. */
type Registered = { socket: LiveSocket; snapshot: SnapshotReader; ready: boolean; queue: string[]; generation: number }

/** Snapshot reads at once during a resync, so that a reconnect does not flood the services. */
const RESYNC_CONCURRENCY = 16

export const toOrder = (change: OrderStatusChanged): Order => ({
  id: change.orderId,
  amount: change.amount,
  description: change.description,
  status: change.status,
  reason: change.reason,
  createdAt: change.createdAt,
  updatedAt: change.updatedAt,
})

export const apiEvent = (order: Pick<Order, 'id' | 'status' | 'reason' | 'updatedAt'>) =>
  JSON.stringify({ orderId: order.id, status: order.status, reason: order.reason, updatedAt: order.updatedAt })

export class LiveHub {
  private readonly byUser = new Map<string, Set<Registered>>()
  private readonly bySocket = new Map<LiveSocket, Registered>()
  /** Per user, so a shopper's pushes (and balance reads) go out in order. */
  private readonly chains = new Map<string, Promise<void>>()
  private subscription: Subscription | undefined

  constructor(private readonly deps: { nc: NatsConnection; client: Pick<ServiceClient, 'balance'>; log: Logger; currency: Currency }) {}

  start(): void {
    this.resyncOnReconnect().catch((error: unknown) => this.deps.log.warn({ err: error }, 'watching the NATS connection stopped'))
    this.subscription = this.deps.nc.subscribe(SUBJECTS.orderStatusChanged, {
      callback: (error, msg) => {
        if (error) return this.deps.log.warn({ err: error }, 'status subscription error')
        try {
          const { payload } = decodeMessage([SUBJECTS.orderStatusChanged], msg.subject, msg.data)
          this.dispatch(payload, contextFrom(msg.headers))
        } catch (decodeError) {
          this.deps.log.warn({ err: decodeError }, 'ignoring a malformed status announcement')
        }
      },
    })
  }

  /** Registers a socket, then sends it its snapshot and whatever changed while that was being read. */
  add(socket: LiveSocket, snapshot: SnapshotReader): Promise<void> {
    const entry: Registered = { socket, snapshot, ready: false, queue: [], generation: 0 }
    this.bySocket.set(socket, entry)
    const set = this.byUser.get(socket.userId) ?? new Set<Registered>()
    this.byUser.set(socket.userId, set)
    set.add(entry)
    return this.sendSnapshot(entry)
  }

  private async sendSnapshot(entry: Registered): Promise<void> {
    entry.ready = false
    const generation = ++entry.generation
    let messages: string[] = []
    try {
      messages = await entry.snapshot()
    } catch (error) {
      this.deps.log.warn({ err: error, userId: entry.socket.userId }, 'live snapshot failed')
    }
    // Closed meanwhile, or a newer read is under way (it sends, then the queue).
    if (this.bySocket.get(entry.socket) !== entry || generation !== entry.generation) return
    for (const text of messages) entry.socket.send(text)
    for (const text of entry.queue) entry.socket.send(text)
    entry.queue = []
    entry.ready = true
  }

  /** After a NATS reconnect: pages are sent their snapshot again; API clients are asked to reconnect. */
  async resync(): Promise<void> {
    const entries = [...this.bySocket.values()]
    this.deps.log.warn({ sockets: entries.length }, 'NATS reconnected: status announcements may have been missed; resending snapshots')
    const pages: Registered[] = []
    for (const entry of entries) {
      if (entry.socket.kind === 'page') {
        entry.ready = false // pushes from now on wait for the new snapshot
        pages.push(entry)
      } else {
        try {
          entry.socket.close(1012, 'reconnect: status changes may have been missed')
        } catch {}
        this.remove(entry.socket)
      }
    }
    const next = pages.values()
    const worker = async () => {
      for (const entry of next) await this.sendSnapshot(entry)
    }
    await Promise.all(Array.from({ length: Math.min(RESYNC_CONCURRENCY, pages.length) }, worker))
  }

  private async resyncOnReconnect(): Promise<void> {
    for await (const status of this.deps.nc.status()) {
      if (status.type === 'reconnect') void this.resync()
    }
  }

  remove(socket: LiveSocket): void {
    const entry = this.bySocket.get(socket)
    if (!entry) return
    this.bySocket.delete(socket)
    const set = this.byUser.get(socket.userId)
    set?.delete(entry)
    if (set?.size === 0) this.byUser.delete(socket.userId)
  }

  socketCount(userId?: string): number {
    return userId === undefined ? this.bySocket.size : (this.byUser.get(userId)?.size ?? 0)
  }

  /** Closes every socket with a code that makes htmx (and polite clients) reconnect. */
  closeAll(code = 1001, reason = 'server shutting down'): void {
    for (const socket of [...this.bySocket.keys()]) {
      try {
        socket.close(code, reason)
      } catch {}
      this.remove(socket)
    }
  }

  async stop(): Promise<void> {
    this.subscription?.unsubscribe()
    this.closeAll()
    await Promise.allSettled([...this.chains.values()])
  }

  private dispatch(change: OrderStatusChanged, trace: Context): void {
    const userId = change.userId
    if (!this.byUser.has(userId)) return
    // With tracing on, the push ends the order's trace (shared/tracing.ts).
    const span = startSpan('gateway', 'live push', SpanKind.CONSUMER, trace, {
      'messaging.system': 'nats',
      'messaging.destination.name': SUBJECTS.orderStatusChanged,
      'gozon.order_id': change.orderId,
      'gozon.status': change.status,
    })
    const previous = this.chains.get(userId) ?? Promise.resolve()
    const next = previous
      .then(() => this.deliver(change, span))
      .then(
        () => endSpan(span),
        (error: unknown) => {
          endSpan(span, error)
          this.deps.log.warn({ err: error, orderId: change.orderId }, 'push failed')
        },
      )
    this.chains.set(userId, next)
    void next.finally(() => {
      if (this.chains.get(userId) === next) this.chains.delete(userId)
    })
  }

  private async deliver(change: OrderStatusChanged, span: Span | undefined): Promise<void> {
    const entries = [...(this.byUser.get(change.userId) ?? [])]
    const order = toOrder(change)
    const pages = entries.filter((e) => e.socket.kind === 'page')
    if (pages.length > 0) {
      const balance = await this.deps.client.balance(change.userId)
      const { currency } = this.deps
      const fragment = html`${renderOrder(order, currency, { oob: true })}${renderBalance(balance, currency, { oob: true })}`.value
      for (const entry of pages) this.push(entry, fragment)
    }
    const event = apiEvent(order)
    for (const entry of entries) if (entry.socket.kind === 'api') this.push(entry, event)
    span?.setAttribute('gozon.sockets', entries.length)
    this.deps.log.debug({ orderId: change.orderId, sockets: entries.length }, 'status pushed')
  }

  private push(entry: Registered, text: string): void {
    if (!entry.ready) entry.queue.push(text)
    else entry.socket.send(text)
  }
}

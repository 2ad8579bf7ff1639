// The WebSocket endpoints held by the gateway:
//   /ws               the pages' socket (session cookie): HTML fragments, swapped out of band
//   /api/orders/live  the API clients' stream (bearer token): JSON {orderId, status, reason, updatedAt}
// A handshake a browser makes from a page of another site is refused (403):
// the cookie would go along, so nothing else would stop that page.
// On every (re)connect the socket is registered first, then the current state
// is read and sent, then the changes that arrived meanwhile (see LiveHub).
import { Elysia } from 'elysia'
import { errorResponse } from '../shared/errors'
import type { Logger } from '../shared/logger'
import { renderBalance } from '../views/account'
import { html } from '../views/html'
import type { Currency } from '../views/money'
import { renderOrder } from '../views/orders'
import type { Authenticator } from './auth/authenticator'
import { isCrossOrigin } from './auth/origin'
import { apiEvent, type LiveHub, type LiveSocket } from './live-hub'
import type { ServiceClient } from './service-client'

type RawSocket = { send(data: string): unknown; close(code?: number, reason?: string): void }

/** Limits of the live sockets: they only listen, so messages to them are tiny or nothing. */
export const LIVE_LIMITS = {
  /** Open sockets per user on one gateway; one more is closed with 1008. */
  socketsPerUser: 20,
  /** Largest message a client may send; a larger one closes the socket (1009). */
  maxPayloadBytes: 1024,
  /** Seconds without any frame (Bun pings every socket) before it is closed. */
  idleTimeoutSeconds: 120,
}
/** Bun applies WebSocket limits server-wide: the gateway passes these to its Elysia instance. */
export const LIVE_SOCKET_SETTINGS = {
  maxPayloadLength: LIVE_LIMITS.maxPayloadBytes,
  idleTimeout: LIVE_LIMITS.idleTimeoutSeconds,
  sendPings: true,
}

/** A page socket closed because its session ended (an application code: views/page.js then goes to sign in). */
export const SIGNED_OUT_CLOSE_CODE = 4001

export function liveRoutes(deps: { hub: LiveHub; client: ServiceClient; log: Logger; auth: Authenticator; currency: Currency }) {
  const { hub, client, auth, currency } = deps
  const sockets = new WeakMap<object, LiveSocket>()

  /** The socket to hand to the hub, or undefined when the user has too many open already. */
  /** The page sockets of each session, closed when it ends (sign-out here or at another gateway). */
  const bySession = new Map<string, Set<RawSocket>>()
  const sessionOf = new WeakMap<object, string>()
  const unwatchOf = new WeakMap<object, () => void>()
  auth.sessions?.onEnded((sessionIds) => {
    for (const id of sessionIds) for (const raw of bySession.get(id) ?? []) raw.close(SIGNED_OUT_CLOSE_CODE, 'signed out')
  })

  function register(raw: RawSocket, kind: LiveSocket['kind'], userId: string, sessionId?: string): LiveSocket | undefined {
    if (hub.socketCount(userId) >= LIVE_LIMITS.socketsPerUser) {
      raw.close(1008, 'too many live connections for this user')
      return undefined
    }
    const socket: LiveSocket = {
      kind,
      userId,
      send: (text) => void raw.send(text),
      close: (code, reason) => raw.close(code, reason),
    }
    sockets.set(raw, socket)
    if (sessionId) {
      const set = bySession.get(sessionId) ?? new Set()
      set.add(raw)
      bySession.set(sessionId, set)
      sessionOf.set(raw, sessionId)
      unwatchOf.set(raw, auth.sessions?.watch(sessionId) ?? (() => {}))
    }
    return socket
  }

  function unregister(raw: RawSocket): void {
    const socket = sockets.get(raw)
    if (socket) hub.remove(socket)
    sockets.delete(raw)
    unwatchOf.get(raw)?.()
    const sessionId = sessionOf.get(raw)
    if (sessionId) {
      bySession.get(sessionId)?.delete(raw)
      if (bySession.get(sessionId)?.size === 0) bySession.delete(sessionId)
    }
  }

  /** The orders the page may show (its first page, and the one it is about) and the balance. */
  async function pageSnapshot(userId: string, orderId: string | undefined): Promise<string[]> {
    const [list, balance, one] = await Promise.all([
      client.listOrders(userId, { limit: 50 }),
      client.balance(userId),
      orderId ? client.getOrder(userId, orderId) : Promise.resolve(undefined),
    ])
    const orders = list.ok ? [...list.body.items] : []
    if (one?.ok && !orders.some((o) => o.id === one.body.id)) orders.push(one.body)
    return [html`${orders.map((o) => renderOrder(o, currency, { oob: true }))}${renderBalance(balance, currency, { oob: true })}`.value]
  }

  async function apiSnapshot(userId: string): Promise<string[]> {
    const orders = await client.newOrders(userId)
    return (orders ?? []).map(apiEvent)
  }

  return new Elysia({ name: 'gateway.live' })
    .ws('/ws', {
      detail: { hide: true },
      beforeHandle: ({ request }) => {
        if (isCrossOrigin(request)) return errorResponse('cross_origin_request')
        // A genuine cookie of a session that ended is let in, and told so (4001) in open(): a refused
        // handshake would look to the page like a lost connection, tried again for ever.
        if (!auth.sessionCookie(request)) return errorResponse('unauthorized')
      },
      async open(ws) {
        let session: Awaited<ReturnType<typeof auth.session>>
        try {
          session = await auth.session(ws.data.request)
        } catch {
          return void ws.raw.close(1011, 'try again') // the database did not answer: htmx reconnects
        }
        if (!session) return void ws.raw.close(SIGNED_OUT_CLOSE_CODE, 'signed out')
        if (ws.raw.readyState !== 1) return // the client left while we were asking
        const orderId = typeof ws.data.query.order === 'string' ? ws.data.query.order : undefined
        const socket = register(ws.raw, 'page', session.userId, session.sessionId)
        if (socket) void hub.add(socket, () => pageSnapshot(session.userId, orderId))
      },
      message() {
        // The page socket only listens.
      },
      close(ws) {
        unregister(ws.raw)
      },
    })
    .ws('/api/orders/live', {
      detail: { hide: true },
      beforeHandle: ({ request }) => {
        if (isCrossOrigin(request)) return errorResponse('cross_origin_request')
        const caller = auth.apiCaller(request)
        if (caller === 'expired') return errorResponse('token_expired')
        if (!caller) return errorResponse('unauthorized')
      },
      open(ws) {
        const caller = auth.apiCaller(ws.data.request)
        if (typeof caller !== 'object') return void ws.raw.close(1008, 'unauthorized')
        const userId = caller.userId
        const socket = register(ws.raw, 'api', userId)
        if (socket) void hub.add(socket, () => apiSnapshot(userId))
      },
      message() {
        // The API stream only sends.
      },
      close(ws) {
        unregister(ws.raw)
      },
    })
}

// Page sessions kept on the server, so that signing out ends one at once: the
// cookie carries a signed session id (gateway/auth/tokens.ts), and the session
// is live while its row in the gateway's database (`sessions`) is there and
// not expired. Sign-out deletes the row; "sign out everywhere" deletes all of
// the user's.
//
// Every page request asks whether its session is live. A small cache keeps
// the answer for CACHE_MS, so a shopper clicking around costs one indexed
// read per few seconds, not one per request. A gateway that ends sessions
// forgets them in its own cache at once and tells every other gateway
// (core NATS, `gozon.gateway.sessions-ended`), which forget them too and
// close those sessions' open page sockets. If that announcement is lost (a
// gateway was cut off from NATS), the cache still lets go within CACHE_MS,
// and the sessions with open page sockets (watch()) are asked again every
// CACHE_MS, so their sockets close too. An answer read before an end this
// gateway heard of is not believed (a read racing a sign-out elsewhere).
import type { NatsConnection, Subscription } from '@nats-io/transport-node'
import { and, eq, gt, lt, sql } from 'drizzle-orm'
import type { Logger } from '../../shared/logger'
import { decodeMessage, encodeMessage, SUBJECTS } from '../../shared/messaging/contracts'
import type { IdentityDatabase } from './database'
import { sessions } from './schema'

/** How long a "live" answer is believed without asking the database again. */
export const CACHE_MS = 5_000
/** At most this many answers are cached (the oldest go first). */
const CACHE_ENTRIES = 50_000
/** Expired rows are deleted this often. */
const CLEANUP_MS = 10 * 60_000

export class SessionStore {
  private readonly cache = new Map<string, { live: boolean; until: number }>()
  private readonly endedListeners: ((sessionIds: string[]) => void)[] = []
  /** Sessions with open page sockets here, and how many. */
  private readonly watched = new Map<string, number>()
  /** When this gateway last heard that a session ended (kept CACHE_MS). */
  private readonly endedAt = new Map<string, number>()
  private subscription: Subscription | undefined
  private cleanupTimer: Timer | undefined
  private recheckTimer: Timer | undefined

  constructor(private readonly deps: { db: IdentityDatabase; nc?: NatsConnection; log: Logger }) {}

  /** Listens for sessions ended at other gateways, and deletes expired rows from time to time. */
  start(): void {
    if (this.deps.nc && !this.subscription) {
      this.subscription = this.deps.nc.subscribe(SUBJECTS.sessionsEnded, {
        callback: (error, msg) => {
          if (error) return
          try {
            this.forget(decodeMessage([SUBJECTS.sessionsEnded], msg.subject, msg.data).payload.sessionIds)
          } catch (failure) {
            this.deps.log.warn({ err: failure }, 'ignored a malformed sessions-ended announcement')
          }
        },
      })
    }
    this.cleanupTimer ??= setInterval(() => void this.deleteExpired(), CLEANUP_MS)
    this.recheckTimer ??= setInterval(() => void this.recheckWatched(), CACHE_MS)
  }

  /** A page socket of this session is open here: its end is looked for every CACHE_MS besides the announcement. Returns the unwatch. */
  watch(sessionId: string): () => void {
    this.watched.set(sessionId, (this.watched.get(sessionId) ?? 0) + 1)
    let done = false
    return () => {
      if (done) return
      done = true
      const left = (this.watched.get(sessionId) ?? 1) - 1
      if (left > 0) this.watched.set(sessionId, left)
      else this.watched.delete(sessionId)
    }
  }

  private async recheckWatched(): Promise<void> {
    const now = Date.now()
    for (const [id, at] of this.endedAt) if (now - at > CACHE_MS) this.endedAt.delete(id)
    const dead: string[] = []
    for (const id of this.watched.keys()) {
      try {
        if (!(await this.isLive(id))) dead.push(id)
      } catch {
        return // the database is away: try again next round
      }
    }
    if (dead.length > 0) this.forget(dead)
  }

  stop(): void {
    this.subscription?.unsubscribe()
    this.subscription = undefined
    clearInterval(this.cleanupTimer)
    this.cleanupTimer = undefined
    clearInterval(this.recheckTimer)
    this.recheckTimer = undefined
  }

  /** Called with the ids of sessions that ended, here or at another gateway (to close their sockets). */
  onEnded(listener: (sessionIds: string[]) => void): void {
    this.endedListeners.push(listener)
  }

  /** Records a new session; live at once on this gateway and, once this resolves, on every other. */
  async create(sessionId: string, userId: string, expiresAt: number): Promise<void> {
    await this.deps.db.insert(sessions).values({ id: sessionId, userId, expiresAt: new Date(expiresAt * 1000) })
    this.remember(sessionId, true)
  }

  async isLive(sessionId: string): Promise<boolean> {
    const cached = this.cache.get(sessionId)
    if (cached && cached.until > Date.now()) return cached.live
    const asked = Date.now()
    const [row] = await this.deps.db
      .select({ id: sessions.id })
      .from(sessions)
      .where(and(eq(sessions.id, sessionId), gt(sessions.expiresAt, sql`now()`)))
    // Ended (as this gateway heard) while the read was on its way: the read is older than the end.
    const ended = this.endedAt.get(sessionId)
    const live = row !== undefined && !(ended !== undefined && ended >= asked)
    this.remember(sessionId, live)
    return live
  }

  /** Ends one session (sign-out). */
  async end(sessionId: string): Promise<void> {
    const rows = await this.deps.db.delete(sessions).where(eq(sessions.id, sessionId)).returning({ id: sessions.id })
    // Nothing to tell the others when it had ended already (an old cookie signing out again).
    if (rows.length > 0) this.ended([sessionId])
    else this.remember(sessionId, false)
  }

  /** Ends every session of the user (sign out everywhere); how many there were. */
  async endAll(userId: string): Promise<number> {
    const rows = await this.deps.db.delete(sessions).where(eq(sessions.userId, userId)).returning({ id: sessions.id })
    if (rows.length > 0) this.ended(rows.map((r) => r.id))
    return rows.length
  }

  private ended(sessionIds: string[]): void {
    this.forget(sessionIds)
    if (this.deps.nc && !this.deps.nc.isClosed()) {
      for (let i = 0; i < sessionIds.length; i += 10_000) {
        const chunk = sessionIds.slice(i, i + 10_000)
        this.deps.nc.publish(SUBJECTS.sessionsEnded, encodeMessage(SUBJECTS.sessionsEnded, { sessionIds: chunk }))
      }
    }
  }

  private forget(sessionIds: string[]): void {
    const now = Date.now()
    for (const id of sessionIds) {
      this.remember(id, false)
      this.endedAt.set(id, now)
    }
    for (const listener of this.endedListeners) listener(sessionIds)
  }

  private remember(sessionId: string, live: boolean): void {
    this.cache.delete(sessionId)
    this.cache.set(sessionId, { live, until: Date.now() + CACHE_MS })
    if (this.cache.size > CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!)
  }

  /** Deletes the expired rows (through the expires_at index); how many. Every CLEANUP_MS by itself. */
  async deleteExpired(): Promise<number> {
    try {
      return (await this.deps.db.delete(sessions).where(lt(sessions.expiresAt, sql`now()`)).returning({ id: sessions.id })).length
    } catch (error) {
      this.deps.log.warn({ err: error }, 'could not delete expired sessions')
      return 0
    }
  }
}

// HTTP idempotency keys, as Stripe defines them: a client may send
// `Idempotency-Key` with a POST; the same key (per user) with the same request
// replays the first response, status and body, without doing anything again;
// with a different request it is refused (422 idempotency_key_reused); while
// the first request still runs, a second one gets 409 idempotency_key_in_flight.
//
// The key is claimed (inserted) in its own short transaction before the work,
// so concurrent requests see it; the response is stored in the same
// transaction as the work, so "done" and "recorded" cannot disagree.
//
// Claims are fenced, so a stalled request and its retry can never both commit:
//   - each claim (and each takeover) writes a new claim_token; the work's
//     transaction records its response only `where claim_token = <its token>`
//     and rolls back (409 idempotency_claim_lost) when that finds nothing;
//   - once the response is written, the row stays locked until commit, so a
//     takeover arriving meanwhile waits, then finds it done and replays it;
//   - a request's work must be done within IDEMPOTENCY_LIMITS.workLimitMs
//     (20 s) of its claim, or it rolls back and gives the claim up;
//   - a claim without a response is taken over only after takeoverAfterMs
//     (30 s): longer than any request can still be working (the work limit
//     plus a margin), so a takeover normally meets a dead request, and the
//     fence covers the rest (a request frozen between its last check and its
//     commit). A client of an instance that died waits at most that long.
import { and, eq, isNull, lt, sql } from 'drizzle-orm'
import type { Database, Executor } from '../db/client'
import { idempotencyKeys } from '../db/idempotency-table'
import { AppError } from '../errors'

export const IDEMPOTENCY_HEADER = 'idempotency-key'
const KEY_PATTERN = /^[\x20-\x7E]{1,255}$/
export const KEEP_KEYS_MS = 24 * 3600_000

export type IdempotencyLimits = {
  /** The longest a request's work may run after its claim; past it the work rolls back. */
  workLimitMs: number
  /** A claim without a response is taken over by a retry only after this long. */
  takeoverAfterMs: number
}

export const IDEMPOTENCY_LIMITS: IdempotencyLimits = { workLimitMs: 20_000, takeoverAfterMs: 30_000 }

/** True for a well-formed key (1-255 printable ASCII characters). */
export function isIdempotencyKey(key: string): boolean {
  return KEY_PATTERN.test(key)
}

/** The request's key, if it sent one; a malformed one is a 400. */
export function readIdempotencyKey(headers: Headers): string | undefined {
  const key = headers.get(IDEMPOTENCY_HEADER)
  if (key === null) return undefined
  if (!isIdempotencyKey(key)) throw new AppError('invalid_idempotency_key')
  return key
}

export type Claim =
  | { replay: true; status: number; body: unknown }
  | {
      replay: false
      /** Stores the response in the transaction that did the work; throws idempotency_claim_lost (so the work rolls back) if the claim was taken over. */
      complete(tx: Executor, status: number, body: unknown): Promise<void>
      /** Stores an error response (the work's transaction rolled back), if the claim is still ours. */
      fail(error: AppError): Promise<void>
      /** Forgets the claim, if still ours: an unexpected failure may be retried with the same key. */
      release(): Promise<void>
    }

// biome-ignore lint/suspicious/noExplicitAny: schema-agnostic, like Executor
type AnyDatabase = Database<any>

export async function claimIdempotencyKey(
  db: AnyDatabase,
  request: { userId: string; key: string; route: string; body: unknown },
  limits: IdempotencyLimits = IDEMPOTENCY_LIMITS,
): Promise<Claim> {
  const fingerprint = `${request.route} ${new Bun.CryptoHasher('sha256').update(JSON.stringify(request.body ?? null)).digest('hex')}`
  const where = and(eq(idempotencyKeys.userId, request.userId), eq(idempotencyKeys.key, request.key))
  const token = crypto.randomUUID()
  const ours = and(where, eq(idempotencyKeys.claimToken, token), isNull(idempotencyKeys.status))
  const [claimed] = await db
    .insert(idempotencyKeys)
    .values({ userId: request.userId, key: request.key, fingerprint, claimToken: token })
    .onConflictDoUpdate({
      // Take over a claim whose request died long ago; otherwise leave it alone.
      target: [idempotencyKeys.userId, idempotencyKeys.key],
      set: { createdAt: sql`now()`, fingerprint, claimToken: token },
      where: and(isNull(idempotencyKeys.status), lt(idempotencyKeys.createdAt, sql`now() - make_interval(secs => ${limits.takeoverAfterMs / 1000})`)),
    })
    .returning({ key: idempotencyKeys.key })
  if (!claimed) {
    const [existing] = await db.select().from(idempotencyKeys).where(where)
    if (!existing) throw new AppError('idempotency_key_in_flight') // released meanwhile; the client retries
    if (existing.fingerprint !== fingerprint) throw new AppError('idempotency_key_reused')
    if (existing.status === null) throw new AppError('idempotency_key_in_flight')
    return { replay: true, status: existing.status, body: existing.response }
  }
  return {
    replay: false,
    async complete(tx, status, body) {
      const [kept] = await tx.update(idempotencyKeys).set({ status, response: body }).where(ours).returning({ key: idempotencyKeys.key })
      if (!kept) throw new AppError('idempotency_claim_lost')
    },
    async fail(error) {
      await db.update(idempotencyKeys).set({ status: error.status, response: error.toBody() }).where(ours)
    },
    async release() {
      await db.delete(idempotencyKeys).where(ours)
    },
  }
}

/**
 * Runs `work` under the request's idempotency key, if it sent one: the first
 * time for real (its response stored with its transaction), afterwards as a
 * replay. Without a key, just runs it.
 */
export async function idempotent<T>(
  db: AnyDatabase,
  request: { headers: Headers; userId: string; route: string; body: unknown },
  successStatus: number,
  work: (tx: Executor) => Promise<T>,
  limits: IdempotencyLimits = IDEMPOTENCY_LIMITS,
): Promise<{ status: number; body: T | unknown; replayed: boolean }> {
  const key = readIdempotencyKey(request.headers)
  // Without a key the work must be atomic on its own (one statement, or its own transaction).
  if (!key) return { status: successStatus, body: await work(db), replayed: false }
  const deadline = Date.now() + limits.workLimitMs
  const claim = await claimIdempotencyKey(db, { userId: request.userId, key, route: request.route, body: request.body }, limits)
  if (claim.replay) return { status: claim.status, body: claim.body, replayed: true }
  try {
    const body = await db.transaction(async (tx) => {
      const result = await work(tx)
      // Too late: a retry may take the claim over soon; undo rather than race it.
      if (Date.now() > deadline) throw new AppError('idempotency_claim_lost')
      await claim.complete(tx, successStatus, result)
      return result
    })
    return { status: successStatus, body, replayed: false }
  } catch (error) {
    // Lost, or refused before anything was tried (a rate limit): the key stays free for a retry.
    const retryable = error instanceof AppError && (error.code === 'idempotency_claim_lost' || error.code === 'rate_limited')
    if (retryable) await claim.release().catch(() => {})
    else if (error instanceof AppError) await claim.fail(error).catch(() => {})
    else await claim.release().catch(() => {})
    throw error
  }
}

/** Deletes keys older than a day. */
export async function forgetOldIdempotencyKeys(db: Executor): Promise<void> {
  await db.delete(idempotencyKeys).where(lt(idempotencyKeys.createdAt, new Date(Date.now() - KEEP_KEYS_MS)))
}

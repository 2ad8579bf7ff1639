// Exponential back-off with jitter: the one rule for every retry in Gozon
// (the consumer's nak delays, the relay after a failed round, declaring
// streams while a cluster elects its leaders, the sweeper's next ask).
//
//   wait before retry n = min(max, base · 2^(n-1)) · a random 50–100 %
//
// The jitter ("equal jitter") spreads out a crowd that failed together, so
// that it does not come back together, while never retrying sooner than half
// the planned wait.
import { type SQL, sql } from 'drizzle-orm'

export type Backoff = { baseMs: number; maxMs: number }

/** The wait before retry number `attempt` (1: the first retry). `random` is for tests. */
export function backoffMs(attempt: number, { baseMs, maxMs }: Backoff, random: () => number = Math.random): number {
  const planned = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(0, attempt - 1), 40))
  return Math.round(planned * (0.5 + random() / 2))
}

/** The same rule in SQL, in seconds, for statements that plan many retries at once (the sweeper); `attempt` is an SQL expression. */
export function backoffSeconds(attempt: SQL, { baseMs, maxMs }: Backoff): SQL {
  return sql`least(${maxMs / 1000}::float8, ${baseMs / 1000}::float8 * 2 ^ greatest(0, ${attempt} - 1)) * (0.5 + random() / 2)`
}

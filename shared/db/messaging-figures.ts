// Figures of a service's messaging tables, read by its /metrics and by its
// operations report: one query for each, kept here.
import { sql } from 'drizzle-orm'
import type { Executor } from './client'

/** Unpublished outbox rows, and the age in seconds of the oldest (0 when none). */
export async function outboxBacklog(db: Executor): Promise<{ pending: number; oldestAgeSeconds: number }> {
  const [row] = await db.execute<{ pending: string; age: string | null }>(
    sql`select count(*)::text as pending, extract(epoch from now() - min(created_at))::text as age from outbox where published_at is null`,
  )
  return { pending: Number(row?.pending ?? 0), oldestAgeSeconds: Number(row?.age ?? 0) }
}

export async function deadLetterCount(db: Executor): Promise<number> {
  const [row] = await db.execute<{ n: string }>(sql`select count(*)::text as n from dead_letters`)
  return Number(row?.n ?? 0)
}

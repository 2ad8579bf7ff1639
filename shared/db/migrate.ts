// Applies a service's committed drizzle-kit migrations under a PostgreSQL
// advisory lock: Drizzle's migrator is not safe when several instances start
// at once, so they take turns and the later ones find nothing to do.
import { drizzle } from 'drizzle-orm/postgres-js'
import { migrate } from 'drizzle-orm/postgres-js/migrator'
import postgres from 'postgres'
import { ensureDatabase } from './ensure-database'

export async function migrateDatabase(url: string, migrationsFolder: string): Promise<void> {
  await ensureDatabase(url)
  // One connection, so the session-level lock and the migration share it.
  const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 })
  try {
    await sql`select pg_advisory_lock(hashtext('gozon.migrate'))`
    try {
      await migrate(drizzle(sql), { migrationsFolder })
    } finally {
      await sql`select pg_advisory_unlock(hashtext('gozon.migrate'))`
    }
  } finally {
    await sql.end({ timeout: 5 })
  }
}

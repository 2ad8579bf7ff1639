// Applies a service's committed drizzle-kit migrations under a PostgreSQL
// advisory lock: Drizzle's migrator is not safe when several instances start
// at once, so they take turns and the later ones find nothing to do.
//
// The database normally exists already (made with the service's own role by
// shared/db/provision.ts); only when it does not (a URL with the power to
// create databases, as some tests use) is it created here.
import { drizzle } from 'drizzle-orm/postgres-js'
import { migrate } from 'drizzle-orm/postgres-js/migrator'
import postgres from 'postgres'
import { ensureDatabase } from './ensure-database'

const NO_SUCH_DATABASE = '3D000'

export async function migrateDatabase(url: string, migrationsFolder: string): Promise<void> {
  // One connection, so the session-level lock and the migration share it.
  const open = () => postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 })
  let sql = open()
  try {
    await sql`select pg_advisory_lock(hashtext('gozon.migrate'))`
  } catch (error) {
    await sql.end({ timeout: 5 })
    if ((error as { code?: string }).code !== NO_SUCH_DATABASE) throw error
    await ensureDatabase(url)
    sql = open()
    await sql`select pg_advisory_lock(hashtext('gozon.migrate'))`.catch(async (again) => {
      await sql.end({ timeout: 5 })
      throw again
    })
  }
  try {
    await migrate(drizzle(sql), { migrationsFolder })
    await sql`select pg_advisory_unlock(hashtext('gozon.migrate'))`
  } finally {
    await sql.end({ timeout: 5 })
  }
}

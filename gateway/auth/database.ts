// The gateway's identity database: created and migrated at start (under the
// same advisory lock as the services' migrations), then one small pool.
import { join } from 'node:path'
import { connectDatabase, type Database } from '../../shared/db/client'
import { migrateDatabase } from '../../shared/db/migrate'
import { schema } from './schema'

export type IdentityDatabase = Database<typeof schema>

export async function openIdentityDatabase(url: string): Promise<IdentityDatabase> {
  await migrateDatabase(url, join(import.meta.dir, '../../drizzle/gateway'))
  return connectDatabase(url, schema, { max: 4 })
}

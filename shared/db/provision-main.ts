// `bun run db:provision` (and compose's `provision` step): creates or updates
// each service's own role and database on a server, as DATABASE_ADMIN_URL's
// administrator. ORDERS_DATABASE_URL, PAYMENTS_DATABASE_URL and
// GATEWAY_DATABASE_URL say which role, password and database each gets
// (those unset are skipped); the services then connect with exactly these.
// `--own-server`: the server is Gozon's alone, so the roles may not connect to
// its `postgres` and `template1` databases either.
// `bun start` does the same by itself and needs none of this.
import { provisionDatabase, serviceDatabase } from './provision'

const NAMES = ['ORDERS_DATABASE_URL', 'PAYMENTS_DATABASE_URL', 'GATEWAY_DATABASE_URL'] as const

const ownServer = process.argv.slice(2).includes('--own-server')
const adminUrl = process.env.DATABASE_ADMIN_URL
const targets = NAMES.filter((name) => process.env[name])
if (!adminUrl || targets.length === 0) {
  console.error(`usage: DATABASE_ADMIN_URL=postgres://admin:…@host/postgres ${NAMES.map((n) => `${n}=…`).join(' ')} bun run db:provision [-- --own-server]`)
  process.exit(2)
}
try {
  for (const name of targets) {
    const url = process.env[name]!
    const { role, database } = serviceDatabase(url)
    await provisionDatabase(adminUrl, url, { closeMaintenanceDatabases: ownServer })
    console.log(`${name}: role ${role} owns database ${database} and can connect to no other Gozon database`)
  }
} catch (error) {
  console.error(`provisioning failed: ${error instanceof Error ? error.message : String(error)}`)
  process.exit(1)
}

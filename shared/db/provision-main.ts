// `bun run db:provision` (and compose's `provision` step): creates or updates
// each service's own role and database on a server, as DATABASE_ADMIN_URL's
// administrator. ORDERS_DATABASE_URL, PAYMENTS_DATABASE_URL and
// GATEWAY_DATABASE_URL say which role, password and database each gets
// (those unset are skipped); the services then connect with exactly these.
// `--own-server`: the server is Gozon's alone, so the roles may not connect to
// its `postgres` and `template1` databases either.
// `bun start` does the same by itself and needs none of this.
import { checkServiceUrls, ProvisionError, provisionDatabase, serviceDatabase } from './provision'

const NAMES = ['ORDERS_DATABASE_URL', 'PAYMENTS_DATABASE_URL', 'GATEWAY_DATABASE_URL'] as const

const USAGE = `usage: DATABASE_ADMIN_URL=postgres://admin:…@host/postgres ${NAMES.map((n) => `${n}=…`).join(' ')} bun run db:provision [-- --own-server]`
const flags = process.argv.slice(2)
const unknown = flags.filter((flag) => flag !== '--own-server')
const adminUrl = process.env.DATABASE_ADMIN_URL
const targets = NAMES.filter((name) => process.env[name])
if (unknown.length > 0 || !adminUrl || targets.length === 0) {
  if (unknown.length > 0) console.error(`db:provision: unknown option ${unknown.join(' ')}`)
  console.error(USAGE)
  process.exit(2)
}
const services = targets.map((name) => ({ name, url: process.env[name]! }))
const fail = (message: string): never => {
  console.error(`provisioning failed: ${message}`)
  process.exit(1)
}
try {
  // Every URL is checked before anything on the server changes.
  checkServiceUrls({ name: 'DATABASE_ADMIN_URL', url: adminUrl }, services)
} catch (error) {
  fail(error instanceof ProvisionError ? error.message : String(error))
}
for (const { name, url } of services) {
  try {
    const { role, database } = serviceDatabase(url)
    await provisionDatabase(adminUrl, url, { closeMaintenanceDatabases: flags.includes('--own-server') })
    console.log(`${name}: role ${role} owns database ${database} and can connect to no other Gozon database`)
  } catch (error) {
    fail(`${name}: ${error instanceof Error ? error.message : String(error)}`)
  }
}

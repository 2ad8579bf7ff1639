// Creates a service's database on first start, so the launcher, compose and
// the tests need no separate provisioning step. Safe when instances race.
import postgres from 'postgres'

const ALREADY_EXISTS = new Set(['42P04', '23505'])

export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url)
  const name = decodeURIComponent(target.pathname.slice(1))
  if (!/^[A-Za-z0-9_]{1,63}$/.test(name)) throw new Error(`Unsupported database name "${name}"`)
  const maintenance = new URL(url)
  maintenance.pathname = '/postgres'
  const sql = postgres(maintenance.toString(), { max: 1, onnotice: () => {}, connect_timeout: 10 })
  try {
    const [row] = await sql`select 1 as found from pg_database where datname = ${name}`
    if (row) return
    await sql.unsafe(`create database "${name}"`).catch((error: { code?: string }) => {
      if (!ALREADY_EXISTS.has(error.code ?? '')) throw error
    })
  } finally {
    await sql.end({ timeout: 5 })
  }
}

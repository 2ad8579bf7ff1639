// `bun run reconcile`: compares the orders and payments databases (read-only)
// and prints one summary line and one line per discrepancy.
//
// The databases are found the way `bun start` finds them:
// ORDERS_DATABASE_URL / PAYMENTS_DATABASE_URL, else gozon_orders /
// gozon_payments on the server DATABASE_URL names, else the embedded
// PostgreSQL's defaults (127.0.0.1:5433, user gozon).
//
// Options: --stuck-after <duration> (a NEW order older than this is stuck_new;
// default 5m; 90s, 10m, 2h or milliseconds), --page-size <rows> (default 10000).
// Exit status: 0 consistent, 1 discrepancies found, 2 could not reconcile
// (a database did not answer, or bad options).
import { parseArgs } from 'node:util'
import postgres from 'postgres'
import { formatDiscrepancy, formatSummary } from '../shared/reconcile/checks'
import { reconcile } from '../shared/reconcile/read'
import { operatorDatabaseUrls, shown } from './databases'

function fail(message: string): never {
  console.error(`reconcile: ${message}`)
  process.exit(2)
}

/** "90s", "5m", "2h", "1500ms" or a bare number of milliseconds. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+)(ms|s|m|h)?$/.exec(text.trim())
  if (!match) return undefined
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h']
  return Number(match[1]) * unit
}

/** The two databases' URLs, as the launcher derives them (launcher/databases.ts). */
export function databaseUrls(env: Record<string, string | undefined>): { orders: string; payments: string } {
  const { orders, payments } = operatorDatabaseUrls(env)
  return { orders, payments }
}

if (import.meta.main) {
  let values: { 'stuck-after': string; 'page-size': string; help?: boolean }
  try {
    values = parseArgs({
      options: { 'stuck-after': { type: 'string', default: '5m' }, 'page-size': { type: 'string', default: '10000' }, help: { type: 'boolean' } },
    }).values as typeof values
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error))
  }
  if (values.help) {
    console.log('usage: bun run reconcile [-- --stuck-after 5m] [--page-size 10000]   (databases: ORDERS_DATABASE_URL / PAYMENTS_DATABASE_URL or DATABASE_URL)')
    process.exit(0)
  }
  const stuckAfterMs = parseDuration(values['stuck-after'])
  if (stuckAfterMs === undefined) fail(`--stuck-after must be a duration like 90s, 5m or 2h, got "${values['stuck-after']}"`)
  const pageSize = Number(values['page-size'])
  if (!Number.isSafeInteger(pageSize) || pageSize < 1) fail(`--page-size must be a positive integer, got "${values['page-size']}"`)

  const urls = databaseUrls(process.env)
  const open = (url: string) => postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10, idle_timeout: 5 })
  const orders = open(urls.orders)
  const payments = open(urls.payments)
  let code: number
  try {
    const { summary } = await reconcile({ orders, payments }, { stuckAfterMs, pageSize, keep: 0, onDiscrepancy: (d) => console.log(formatDiscrepancy(d)) })
    console.log(formatSummary(summary))
    code = summary.discrepancies > 0 ? 1 : 0
  } catch (error) {
    console.error(
      `reconcile: could not read the databases (orders ${shown(urls.orders)}, payments ${shown(urls.payments)}): ${error instanceof Error ? error.message : String(error)}`,
    )
    code = 2
  }
  await Promise.all([orders.end({ timeout: 5 }), payments.end({ timeout: 5 })]).catch(() => {})
  process.exit(code)
}

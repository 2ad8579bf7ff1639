// A backup taken under a stream of orders (`bun start`, real processes),
// restored into a fresh data folder (`bun run restore`), and Gozon started on
// it: the shop runs, in-flight orders end final, and the reconciliation
// reports exactly what the backup's three instants imply, nothing else.
//
// The orders and payments snapshots are taken one after the other; the test
// widens that gap on purpose and places orders in it, paid before the
// payments snapshot: they are in the payments backup and not in the orders
// one, so after the restore each is a payment_without_order (README, Backups
// and restore, says how to settle one). What reconcile must report is read
// from the backup's own files, independently of reconcile.
import { expect, test } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { type Manifest, readManifest } from '../../launcher/backup/format'
import { takeBackup } from '../../launcher/backup/take'
import { operatorDatabaseUrls } from '../../launcher/databases'
import { freePort } from '../../launcher/free-port'
import { spawnGozon } from '../../launcher/spawn'
import { eventually } from '../support/poll'
import { type ApiShopper, apiShopper, placeOrder } from '../support/shop-client'

const root = join(import.meta.dir, '..', '..')
const TOP_UP = 1_000_000
async function orderStatus(base: string, client: ApiShopper, id: string): Promise<string | undefined> {
  const response = await fetch(`${base}/api/orders/${id}`, { headers: { authorization: `Bearer ${client.token}` } })
  return response.status === 200 ? ((await response.json()) as { status: string }).status : undefined
}

/** One table of the backup, read from its file: a record per row, by column name (COPY text; the columns read here hold no escapes). */
async function backedUpRows(folder: string, manifest: Manifest, database: string, table: string): Promise<Record<string, string>[]> {
  const entry = manifest.databases.find((d) => d.key === database)!.tables.find((t) => t.name === table)!
  const text = new TextDecoder().decode(Bun.gunzipSync(new Uint8Array(await Bun.file(join(folder, entry.file)).arrayBuffer())))
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => Object.fromEntries(line.split('\t').map((value, i) => [entry.columns[i]!, value])))
}

function run(command: string[], env: Record<string, string>): { code: number | null; out: string } {
  const result = spawnSync('bun', command, { cwd: root, env: { ...process.env, DATABASE_URL: '', NATS_URL: '', ...env }, encoding: 'utf8' })
  return { code: result.status, out: `${result.stdout}${result.stderr}` }
}

test('a backup under load, restored into a fresh data folder: the shop runs, and reconcile reports exactly the orders paid between the two snapshots', async () => {
  const backups = mkdtempSync(join(tmpdir(), 'gozon-backups-'))
  const folder = join(backups, 'under-load')
  const gozon = await spawnGozon()
  let restored: Awaited<ReturnType<typeof spawnGozon>> | undefined
  let streaming = true
  try {
    const base = gozon.state.gatewayUrl
    const clients = await Promise.all(['bk-ann', 'bk-bob', 'bk-cid'].map((name) => apiShopper(base, name, TOP_UP)))
    const gapShopper = await apiShopper(base, 'bk-gap', TOP_UP)

    // The stream of orders goes on during the backup.
    let placed = 0
    const stream = (async () => {
      for (let n = 0; streaming; n++) {
        await placeOrder(base, clients[n % clients.length]!.token, 1 + (n % 50))
        placed += 1
        await Bun.sleep(10)
      }
    })()
    await eventually('the stream has placed some orders', () => placed >= 40, { timeoutMs: 30_000 })

    // Payments frozen for a moment: the orders snapshot then holds orders still NEW whose payment is decided
    // before the payments snapshot (after the restore, the sweeper asks again and payments answers from its ledger).
    const paymentsPid = gozon.state.pids.payments!
    process.kill(paymentsPid, 'SIGSTOP')
    const waiting = await Promise.all(clients.map(async (client, i) => ({ client, id: await placeOrder(base, client.token, 201 + i) })))
    const gapOrders: string[] = []
    const urls = operatorDatabaseUrls({ EMBEDDED_POSTGRES_PORT: String(gozon.ports.postgres) })
    const manifest = await takeBackup(urls, folder, {
      secretsFile: join(gozon.dataDir, 'secrets.json'),
      afterSnapshot: async (key) => {
        if (key !== 'orders') return
        process.kill(paymentsPid, 'SIGCONT')
        for (const { client, id } of waiting)
          await eventually(`order ${id} decided`, async () => (await orderStatus(base, client, id)) === 'FINISHED', { timeoutMs: 15_000 })
        // Between the orders and the payments snapshots: five orders placed and paid.
        for (let i = 0; i < 5; i++) gapOrders.push(await placeOrder(base, gapShopper.token, 100 + i))
        for (const id of gapOrders)
          await eventually(`gap order ${id} paid`, async () => (await orderStatus(base, gapShopper, id)) === 'FINISHED', { timeoutMs: 15_000 })
      },
    })
    // The command itself, under the same load: a whole backup, and a restore that refuses to run under a running Gozon.
    const running = { GOZON_DATA_DIR: gozon.dataDir, EMBEDDED_POSTGRES_PORT: String(gozon.ports.postgres) }
    const command = run(['launcher/backup-main.ts', '--to', join(backups, 'by-command')], running)
    expect(command.out).toContain(`backup written to ${join(backups, 'by-command')}`)
    expect(command.code).toBe(0)
    expect(readManifest(join(backups, 'by-command')).secrets).toBe('secrets.json')
    const refused = run(['launcher/restore-main.ts', join(backups, 'by-command')], running)
    expect(refused.out).toContain(`runs on ${join(gozon.dataDir, 'postgres')}: Gozon is running there`)
    expect(refused.code).toBe(1)
    streaming = false
    await stream
    expect(await gozon.stop()).toBe(0)

    // What the backup's files say reconcile must find: payments whose orders are not in the orders backup.
    const orderIds = new Set((await backedUpRows(folder, manifest, 'orders', 'orders')).map((o) => o.id))
    const payments = await backedUpRows(folder, manifest, 'payments', 'payments')
    const expected = payments.filter((p) => !orderIds.has(p.order_id!)).map((p) => p.order_id!)
    for (const id of gapOrders) expect(expected).toContain(id)
    expect(orderIds.size).toBeGreaterThan(40)
    const backedUpOrders = await backedUpRows(folder, manifest, 'orders', 'orders')
    const inFlight = backedUpOrders.filter((o) => o.status === 'NEW').length
    // The three placed while payments was frozen: NEW in the orders backup, paid in the payments one.
    for (const { id } of waiting) {
      expect(backedUpOrders.find((o) => o.id === id)?.status).toBe('NEW')
      expect(payments.find((p) => p.order_id === id)?.outcome).toBe('succeeded')
    }

    // bun run restore into a fresh data folder, then bun start on it.
    const dataDir = mkdtempSync(join(tmpdir(), 'gozon-restored-'))
    chmodSync(dataDir, 0o755)
    const restoreAt = { GOZON_DATA_DIR: dataDir, EMBEDDED_POSTGRES_PORT: String(await freePort()) }
    const restore = run(['launcher/restore-main.ts', folder], restoreAt)
    expect(restore.out).toContain('restored')
    expect(restore.code).toBe(0)
    restored = await spawnGozon({ dataDir })
    const again = restored.state.gatewayUrl
    const reconcileEnv = { EMBEDDED_POSTGRES_PORT: String(restored.ports.postgres) }

    // The orders in flight at the snapshot end final (the sweeper asks payments again, which answers from its ledger).
    await eventually(
      'no order of the backup is still NEW',
      () => /in flight 0,/.test(run(['launcher/reconcile.ts', '--stuck-after', '1h'], reconcileEnv).out),
      { timeoutMs: 60_000 },
    )
    const report = run(['launcher/reconcile.ts'], reconcileEnv)
    const lines = report.out.trim().split('\n')
    const found = lines.filter((l) => !l.startsWith('reconcile:'))
    expect(found.map((l) => l.split(' ')[0]).every((kind) => kind === 'payment_without_order')).toBe(true)
    expect(found.map((l) => /order=([0-9a-f-]{36})/.exec(l)?.[1]).sort()).toEqual([...expected].sort())
    expect(lines.at(-1)).toContain(`discrepancies ${expected.length}`)
    expect(report.code).toBe(1)

    // Settled as the README says: the order put back from its payment, NEW and due; the sweeper asks payments,
    // which answers from its ledger (no second debit), and the order ends FINISHED.
    const settled = found.find((l) => l.includes(`order=${gapOrders[0]}`))!
    const [, id, user, amount] = /order=(\S+) user=(\S+) succeeded payment of (\d+)/.exec(settled)!
    const admin = postgres(`postgres://gozon:gozon@127.0.0.1:${restored.ports.postgres}/gozon_orders`, { max: 1, onnotice: () => {} })
    await admin`insert into orders (id, user_id, amount, status, next_ask_at) values (${id!}, ${user!}, ${Number(amount)}, 'NEW', now())`
    await admin.end({ timeout: 5 })
    await eventually('the settled order is FINISHED', async () => (await orderStatus(again, gapShopper, id!)) === 'FINISHED', { timeoutMs: 30_000 })
    const afterSettling = run(['launcher/reconcile.ts'], reconcileEnv)
    expect(afterSettling.out.trim().split('\n').at(-1)).toContain(`discrepancies ${expected.length - 1}`)
    expect(afterSettling.out).not.toContain(id!)

    // As the shopper of the gap sees it: charged for five orders the restored shop does not know (one put back since).
    const gapAuth = { authorization: `Bearer ${gapShopper.token}` } // a token from before the backup: the keys came back too
    const account = (await (await fetch(`${again}/api/payments/account`, { headers: gapAuth })).json()) as { balance: number }
    expect(account.balance).toBe(TOP_UP - (100 + 101 + 102 + 103 + 104))
    const listed = (await (await fetch(`${again}/api/orders`, { headers: gapAuth })).json()) as { items: { id: string }[] }
    expect(listed.items.map((o) => o.id)).toEqual([gapOrders[0]!])
    // And the restored shop takes new orders and pays them.
    const fresh = await placeOrder(again, clients[0]!.token, 7)
    await eventually('a new order is paid', async () => (await orderStatus(again, clients[0]!, fresh)) === 'FINISHED', { timeoutMs: 15_000 })
    console.log(
      `backup under load: ${orderIds.size} orders (${inFlight} in flight), ${payments.length} payments; restored: reconcile reports ${expected.length} payment_without_order (${gapOrders.length} placed between the snapshots), nothing else`,
    )
  } finally {
    streaming = false
    try {
      process.kill(gozon.state.pids.payments!, 'SIGCONT') // should the test have failed while payments was frozen
    } catch {}
    await gozon.stop()
    await restored?.stop()
    rmSync(backups, { recursive: true, force: true })
  }
}, 240_000)

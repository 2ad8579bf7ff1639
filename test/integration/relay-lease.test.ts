// The sweeping relay never holds a database transaction open across a call to
// NATS: it leases rows in one short statement, publishes, then marks them. With
// nats-server frozen, a leased row waits for its publish while no connection
// of the orders database sits idle in a transaction; once NATS is back the row
// is published.
import { expect, test } from 'bun:test'
import { SUBJECTS } from '../../shared/messaging/contracts'
import { startSystem } from '../support/system'

test('a publish stalled by a frozen NATS holds no transaction open', async () => {
  const sys = await startSystem({ paymentsConsumer: false, env: { RELAY_GRACE_MS: '100', RELAY_LEASE_MS: '6000' } })
  const frozen = sys.nats.process
  try {
    const orderId = crypto.randomUUID()
    frozen.kill('SIGSTOP')
    await sys.ordersSql`
      insert into outbox (id, subject, payload, created_at)
      values (${`lease-test:${orderId}`}, ${SUBJECTS.paymentRequested}, ${sys.ordersSql.json({ orderId, userId: 'lease', amount: 1 })}, now() - interval '1 minute')`
    // The sweeper leases it within a round or two, then waits on NATS.
    const deadline = Date.now() + 5000
    let leased = false
    while (!leased && Date.now() < deadline) {
      const [row] = await sys.ordersSql`select claimed_until is not null as leased from outbox where id = ${`lease-test:${orderId}`}`
      leased = row!.leased
      if (!leased) await Bun.sleep(20)
    }
    expect(leased).toBe(true)
    // While the publish waits (up to its 5 s timeout), nothing sits idle in a transaction for longer
    // than between two statements (the sweeper's short transactions run meanwhile; one waiting on
    // NATS would sit there for seconds).
    const database = new URL(sys.env.ORDERS_DATABASE_URL!).pathname.slice(1)
    for (let i = 0; i < 20; i++) {
      const open = await sys.ordersSql`
        select query from pg_stat_activity
        where datname = ${database} and state like 'idle in transaction%' and state_change < now() - interval '500 milliseconds'`
      expect(open.map((row) => row.query)).toEqual([])
      await Bun.sleep(50)
    }
    frozen.kill('SIGCONT')
    const published = Date.now() + 20_000
    for (;;) {
      const [row] = await sys.ordersSql`select published_at from outbox where id = ${`lease-test:${orderId}`}`
      if (row!.published_at) break
      if (Date.now() > published) throw new Error('the leased row was never published after NATS came back')
      await Bun.sleep(50)
    }
  } finally {
    frozen.kill('SIGCONT')
    await sys.stop()
  }
})

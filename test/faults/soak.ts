// `bun run soak -- --minutes 10`: a mixed workload against real processes with
// a random fault every 30 s, checking the money invariants after every fault
// and everything once the workload stops. For long runs outside CI.
import { parseArgs } from 'node:util'
import { shutdownInfra } from '../support/infra'
import { startFaultSystem } from './harness'

const { values } = parseArgs({
  options: { minutes: { type: 'string', default: '10' }, 'fault-every': { type: 'string', default: '30' } },
})
const minutes = Number(values.minutes)
const faultEverySeconds = Number(values['fault-every'])
const users = 10

const sys = await startFaultSystem({}, { ownPostgres: true })
type Sys = typeof sys
await sys.start('orders')
await sys.start('payments')
for (let i = 0; i < users; i++) {
  await sys.call('payments', 'POST', '/api/payments/account', `f${i}`)
  await sys.call('payments', 'POST', '/api/payments/account/top-up', `f${i}`, { amount: 1_000_000 })
}

const faults: Record<string, (s: Sys) => Promise<void>> = {
  'payments SIGKILL': async (s) => {
    await s.kill('payments')
    await s.start('payments')
  },
  'orders SIGKILL': async (s) => {
    await s.kill('orders')
    await s.start('orders')
  },
  'nats-server down 5 s': async (s) => {
    await s.stopNats('SIGKILL')
    await Bun.sleep(5000)
    await s.restartNats()
  },
  'PostgreSQL down 5 s': async (s) => {
    await s.stopPostgres('SIGQUIT')
    await Bun.sleep(5000)
    await s.restartPostgres()
  },
  'PostgreSQL frozen 3 s': async (s) => {
    s.signalPostgres('SIGSTOP')
    await Bun.sleep(3000)
    s.signalPostgres('SIGCONT')
  },
}

async function checkMoney(): Promise<string> {
  const summary = await sys.checkBalances()
  return `${summary.accounts} balances right, every succeeded payment debited once (${summary.payments.succeeded} so far)`
}

let placed = 0
let refused = 0
let running = true
const workload = (async () => {
  while (running) {
    await Promise.all(
      Array.from({ length: 5 }, async (_, i) => {
        const user = `f${Math.floor(Math.random() * users)}`
        try {
          const r =
            i === 0
              ? await sys.call('payments', 'POST', '/api/payments/account/top-up', user, { amount: 500 })
              : await sys.call('orders', 'POST', '/api/orders', user, { amount: 100 + Math.floor(Math.random() * 900) })
          if (r.status < 300) placed += 1
          else refused += 1
        } catch {
          refused += 1
        }
      }),
    )
    await Bun.sleep(50)
  }
})()

const started = Date.now()
let round = 0
try {
  while (Date.now() - started < minutes * 60_000) {
    await Bun.sleep(faultEverySeconds * 1000)
    const names = Object.keys(faults)
    const name = names[Math.floor(Math.random() * names.length)]!
    round += 1
    await faults[name]!(sys)
    await Bun.sleep(2000)
    console.log(`soak ${round} (${Math.round((Date.now() - started) / 1000)} s) ${name}: ${await checkMoney()}; ${placed} requests done, ${refused} refused`)
  }
  running = false
  await workload
  console.log(`soak finished: ${await sys.checkInvariants(60_000)}`)
} finally {
  running = false
  await workload.catch(() => {})
  await sys.stop()
  await shutdownInfra()
}

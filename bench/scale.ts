// `bun run bench -- --scale 1,2`: the same workload against one instance of
// each service on a single nats-server, then against N instances behind
// HAProxy on the three-node cluster (`bun start -- --scale N`), one after the
// other in one run, and the figures side by side: orders/s, create→final
// p50/p99, commits per order, CPU per order by component (all instances of a
// component together), pushes missed, the knee when --knee is given.
import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

type Phase = {
  endToEnd: { finalisedPerSecond: number; createToFinalMs: { count: number; p50: number; p99: number } }
  dbCommitsPerOrder: number | null
  profile: { cpuSeconds: Record<string, number> }
  liveStreamErrors?: number
  errors: number
  money: { balanceMismatches: number; negativeBalances: number }
}
type Result = { burst?: Phase; steady?: (Phase & { rate: number })[]; knee?: { heldPerSecond: number | null; p99LimitMs: number; seconds: number } }

/** "orders-2" and "orders" are both orders; the three NATS nodes are NATS. */
const component = (name: string) => name.replace(/-\d+$/, '')

function cpuPerOrder(phase: Phase): Record<string, number> {
  const orders = phase.endToEnd.createToFinalMs.count || 1
  const sums: Record<string, number> = {}
  for (const [name, seconds] of Object.entries(phase.profile.cpuSeconds)) sums[component(name)] = (sums[component(name)] ?? 0) + seconds
  return Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, Math.round((v * 1000 * 1000) / orders) / 1000]))
}

function runOnce(instances: number, argv: string[]): Promise<string> {
  // The caller's arguments, without --scale, plus this instance count.
  const rest: string[] = []
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--scale') i++
    else if (!argv[i]!.startsWith('--scale=')) rest.push(argv[i]!)
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(import.meta.dir, 'run.ts'), ...rest, '--instances', String(instances)], { stdio: ['ignore', 'ignore', 'pipe'] })
    let file = ''
    child.stderr!.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk)
      file = /results: (\S+\.json)/.exec(chunk.toString())?.[1] ?? file
    })
    child.once('exit', (code) => (code === 0 && file ? resolve(file) : reject(new Error(`bench with ${instances} instance(s) failed (exit ${code})`))))
  })
}

export async function runScales(scales: number[], argv: string[]): Promise<void> {
  const runs: { instances: number; file: string; result: Result }[] = []
  for (const instances of scales) {
    console.error(`\n=== ${instances} instance(s) of each service${instances > 1 ? ' behind HAProxy, three NATS nodes' : ', one nats-server'}`)
    const file = await runOnce(instances, argv)
    runs.push({ instances, file, result: JSON.parse(readFileSync(file, 'utf8')) as Result })
  }
  const rows: string[] = [
    '| phase | instances | orders/s | create→final p50 ms | p99 ms | commits/order | CPU ms/order by component | errors (a push missed counts) | money |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ]
  const phases = (r: Result) => [...(r.burst ? [['burst', r.burst] as const] : []), ...(r.steady ?? []).map((s) => [`steady ${s.rate}/s`, s] as const)]
  for (const [name] of phases(runs[0]!.result)) {
    for (const run of runs) {
      const phase = phases(run.result).find(([n]) => n === name)?.[1]
      if (!phase) continue
      const cpu = cpuPerOrder(phase)
      const total = Object.values(cpu).reduce((a, b) => a + b, 0)
      const parts = Object.entries(cpu)
        .map(([k, v]) => `${k} ${v.toFixed(2)}`)
        .join(', ')
      const money = phase.money.balanceMismatches === 0 && phase.money.negativeBalances === 0 && phase.errors === 0 ? 'exact' : 'WRONG'
      rows.push(
        `| ${name} | ${run.instances} | ${phase.endToEnd.finalisedPerSecond} | ${phase.endToEnd.createToFinalMs.p50} | ${phase.endToEnd.createToFinalMs.p99} | ${phase.dbCommitsPerOrder ?? '–'} | ${total.toFixed(2)} (${parts}) | ${phase.errors} | ${money} |`,
      )
    }
  }
  for (const run of runs) {
    if (run.result.knee)
      rows.push(
        `\nknee, ${run.instances} instance(s): ${run.result.knee.heldPerSecond ?? 'none'} orders/s held for ${run.result.knee.seconds} s with p99 <= ${run.result.knee.p99LimitMs} ms`,
      )
  }
  const table = rows.join('\n')
  const dir = join(import.meta.dir, 'results')
  mkdirSync(dir, { recursive: true })
  const out = join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-scale.json`)
  writeFileSync(
    out,
    `${JSON.stringify({ command: `bun run bench ${argv.join(' ')}`, runs: runs.map((r) => ({ instances: r.instances, file: r.file })), table }, null, 2)}\n`,
  )
  console.log(table)
  console.error(`results: ${out}`)
}

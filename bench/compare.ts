// `bun bench/compare.ts <before.json …> -- <after.json …>`: the medians of
// several `bun run bench` results of two commits, side by side. On a shared
// 2-core machine one run's latency can be off by 2-3x, so a comparison should
// alternate the two commits several times in one session and compare medians;
// CPU per order (all components, from the results' cpuSeconds) moves least.
import { readFileSync } from 'node:fs'
import { percentile } from './stats'

type Phase = {
  endToEnd: { finalisedPerSecond: number; createToFinalMs: { count: number; p50: number; p99: number } }
  dbCommitsPerOrder: number
  profile: { cpuSeconds: Record<string, number> }
}
type Result = { burst?: Phase; steady?: (Phase & { rate: number })[] }

const args = process.argv.slice(2)
const split = args.indexOf('--')
if (split < 1 || split === args.length - 1) {
  console.error('usage: bun bench/compare.ts <before.json …> -- <after.json …>')
  process.exit(2)
}
const load = (files: string[]) => files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as Result)
const sides = { before: load(args.slice(0, split)), after: load(args.slice(split + 1)) }

function figures(phase: Phase) {
  const { finalisedPerSecond, createToFinalMs } = phase.endToEnd
  const cpu = Object.values(phase.profile.cpuSeconds).reduce((a, b) => a + b, 0)
  return {
    perSecond: finalisedPerSecond,
    p50: createToFinalMs.p50,
    p99: createToFinalMs.p99,
    commits: phase.dbCommitsPerOrder,
    cpuMsPerOrder: (cpu * 1000) / createToFinalMs.count,
  }
}

const median = (values: number[]) => percentile(values, 50)
const phasesOf = (results: Result[]) => {
  const byName = new Map<string, ReturnType<typeof figures>[]>()
  const add = (name: string, phase: Phase) => byName.set(name, [...(byName.get(name) ?? []), figures(phase)])
  for (const r of results) {
    if (r.burst) add('burst', r.burst)
    for (const s of r.steady ?? []) add(`steady ${s.rate}/s`, s)
  }
  return byName
}

const before = phasesOf(sides.before)
const after = phasesOf(sides.after)
console.log(`runs: ${sides.before.length} before, ${sides.after.length} after (medians)`)
console.log('| phase | orders/s before → after | create→final p50 ms | p99 ms | commits/order | CPU ms/order (all components) |')
console.log('| --- | --- | --- | --- | --- | --- |')
for (const [name, b] of before) {
  const a = after.get(name)
  if (!a) continue
  const cell = (key: keyof ReturnType<typeof figures>, digits = 1) => {
    const x = median(b.map((f) => f[key]))
    const y = median(a.map((f) => f[key]))
    return `${x.toFixed(digits)} → ${y.toFixed(digits)} (${y >= x ? '+' : ''}${(((y - x) / x) * 100).toFixed(0)} %)`
  }
  console.log(`| ${name} | ${cell('perSecond', 0)} | ${cell('p50')} | ${cell('p99')} | ${cell('commits', 2)} | ${cell('cpuMsPerOrder', 2)} |`)
}

// Alternating runs are pairs (before i, after i, taken one after the other):
// the median of the per-pair changes cancels the machine's slow drift better
// than a change of medians.
if (sides.before.length === sides.after.length && sides.before.length > 1) {
  console.log(`\npaired: the median of the ${sides.before.length} per-pair changes (before i → after i), with their range`)
  console.log('| phase | orders/s | create→final p50 | p99 | CPU ms/order |')
  console.log('| --- | --- | --- | --- | --- |')
  for (const [name, b] of before) {
    const a = after.get(name)
    if (!a || a.length !== b.length) continue
    const change = (key: keyof ReturnType<typeof figures>) => {
      const ratios = b.map((f, i) => ((a[i]![key] - f[key]) / f[key]) * 100)
      const fmt = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(0)} %`
      return `${fmt(median(ratios))} (${fmt(Math.min(...ratios))} … ${fmt(Math.max(...ratios))})`
    }
    console.log(`| ${name} | ${change('perSecond')} | ${change('p50')} | ${change('p99')} | ${change('cpuMsPerOrder')} |`)
  }
}

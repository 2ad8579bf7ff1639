// Percentiles and summaries for the benchmark (nearest-rank, on sorted copies).

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank]!
}

export type Summary = { count: number; p50: number; p90: number; p99: number; max: number; mean: number }

export function summarize(values: number[]): Summary {
  const round = (n: number) => Math.round(n * 100) / 100
  return {
    count: values.length,
    p50: round(percentile(values, 50)),
    p90: round(percentile(values, 90)),
    p99: round(percentile(values, 99)),
    max: round(values.length ? Math.max(...values) : Number.NaN),
    mean: round(values.length ? values.reduce((a, b) => a + b, 0) / values.length : Number.NaN),
  }
}

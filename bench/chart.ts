// A small SVG chart: create-to-final latency percentiles against offered rate.
import { escapeHtml } from '../views/html'

export type ChartPoint = { rate: number; p50: number; p99: number; max: number }

export function latencyChart(points: ChartPoint[], title: string): string {
  const width = 640
  const height = 360
  const pad = { left: 64, right: 120, top: 40, bottom: 48 }
  const plotW = width - pad.left - pad.right
  const plotH = height - pad.top - pad.bottom
  const maxRate = Math.max(...points.map((p) => p.rate)) * 1.1
  const maxY = Math.max(10, ...points.map((p) => p.p99)) * 1.2
  const x = (rate: number) => pad.left + (rate / maxRate) * plotW
  const y = (ms: number) => pad.top + plotH - (Math.min(ms, maxY) / maxY) * plotH
  const series = [
    { key: 'p50' as const, color: '#2f6fde', label: 'p50' },
    { key: 'p99' as const, color: '#b42318', label: 'p99' },
  ]
  const ticks = 5
  const grid = Array.from({ length: ticks + 1 }, (_, i) => (maxY / ticks) * i)
  const lines = series
    .map((s) => {
      const path = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.rate).toFixed(1)},${y(p[s.key]).toFixed(1)}`).join(' ')
      const dots = points
        .map(
          (p) =>
            `<circle cx="${x(p.rate).toFixed(1)}" cy="${y(p[s.key]).toFixed(1)}" r="3.5" fill="${s.color}"><title>${s.label} at ${p.rate}/s: ${p[s.key]} ms</title></circle>`,
        )
        .join('')
      return `<path d="${path}" fill="none" stroke="${s.color}" stroke-width="2"/>${dots}`
    })
    .join('\n')
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#fff"/>
<text x="${pad.left}" y="22" font-size="14" font-weight="600">${escapeHtml(title)}</text>
${grid.map((v) => `<line x1="${pad.left}" x2="${pad.left + plotW}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e4e7eb"/><text x="${pad.left - 8}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" fill="#616e7c">${v.toFixed(0)}</text>`).join('\n')}
${points.map((p) => `<text x="${x(p.rate).toFixed(1)}" y="${pad.top + plotH + 18}" text-anchor="middle" fill="#616e7c">${p.rate}</text>`).join('\n')}
<text x="${pad.left + plotW / 2}" y="${height - 10}" text-anchor="middle" fill="#1f2933">offered orders per second</text>
<text transform="translate(16 ${pad.top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="#1f2933">create → final status (ms)</text>
<line x1="${pad.left}" x2="${pad.left}" y1="${pad.top}" y2="${pad.top + plotH}" stroke="#9aa5b1"/>
<line x1="${pad.left}" x2="${pad.left + plotW}" y1="${pad.top + plotH}" y2="${pad.top + plotH}" stroke="#9aa5b1"/>
${lines}
${series.map((s, i) => `<rect x="${width - pad.right + 16}" y="${pad.top + i * 20}" width="12" height="12" fill="${s.color}"/><text x="${width - pad.right + 34}" y="${pad.top + 10 + i * 20}">${s.label}</text>`).join('\n')}
</svg>
`
}

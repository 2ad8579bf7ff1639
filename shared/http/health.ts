// GET /health: 200 when every dependency answers, 503 (with which one failed) otherwise.
// GET /health/live: 200 while the process answers at all, whatever its
// dependencies do: what a load balancer checks in front of the gateways, so
// that a payments outage does not take the whole shop (its pages, sign-in,
// new orders) off the balancer.
import { Elysia } from 'elysia'
import { AppError } from '../errors'

export type HealthChecks = Record<string, () => Promise<boolean>>

export function healthRoute(checks: HealthChecks) {
  return new Elysia({ name: 'gozon.health' })
    .get(
      '/health',
      async ({ set }) => {
        const names = Object.keys(checks)
        const results = await Promise.all(names.map((name) => checks[name]!()))
        const status = Object.fromEntries(names.map((name, i) => [name, results[i] ? 'up' : 'down']))
        if (results.every(Boolean)) return { status: 'ok', checks: status }
        set.status = 503
        return new AppError('service_unavailable', status).toBody()
      },
      { detail: { summary: 'Liveness and dependency check', tags: ['operations'] } },
    )
    .get('/health/live', () => ({ status: 'ok' }), { detail: { summary: 'Liveness only: the process answers', tags: ['operations'] } })
}

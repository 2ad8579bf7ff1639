// compose.yaml cannot be run here (no Docker engine, no image registry), so
// this keeps it in the shape the launcher runs (`bun start -- --scale 2`):
// three NATS nodes with fsync, two replicas per service on all three URLs,
// HAProxy with the launcher's checks and error pages in front.
import { expect, test } from 'bun:test'
import { join } from 'node:path'
import { haproxyConfig } from '../../launcher/haproxy'
import { DEFAULTS } from '../../shared/config'
import { AppError } from '../../shared/errors'

type Service = {
  deploy?: { replicas?: number }
  environment?: Record<string, string>
  networks?: unknown
  configs?: { source: string }[]
  command?: string[]
  depends_on?: Record<string, { condition: string }>
}
const compose = Bun.YAML.parse(await Bun.file(join(import.meta.dir, '..', '..', 'compose.yaml')).text()) as {
  services: Record<string, Service>
  configs: Record<string, { content: string }>
}
const haproxy = compose.configs['haproxy-config']!.content

test('three NATS nodes, clustered, each fsyncing before it acknowledges', () => {
  const nodes = Object.keys(compose.services).filter((n) => n.startsWith('nats-'))
  expect(nodes).toEqual(['nats-1', 'nats-2', 'nats-3'])
  const config = compose.configs['nats-config']!.content
  expect(config).toContain('sync_interval: always')
  for (const n of nodes) expect(config).toContain(`nats-route://${n}:6222`)
  // Server names as the launcher's cluster has them (the fault suite reads the leader's name).
  expect(nodes.map((n) => compose.services[n]!.environment!.NODE)).toEqual(['gozon-n1', 'gozon-n2', 'gozon-n3'])
})

test('two replicas of every service, each given all three NATS URLs and three stream replicas', () => {
  for (const name of ['gateway', 'orders', 'payments']) {
    const service = compose.services[name]!
    expect(service.deploy?.replicas).toBe(2)
    expect(service.environment!.NATS_URL!.split(',')).toEqual(['nats://nats-1:4222', 'nats://nats-2:4222', 'nats://nats-3:4222'])
    expect(service.environment!.NATS_STREAM_REPLICAS).toBe('3')
  }
  expect(compose.services.gateway!.environment!.ORDERS_URL).toBe(`http://haproxy:${DEFAULTS.ordersPort}`)
  expect(compose.services.gateway!.environment!.PAYMENTS_URL).toBe(`http://haproxy:${DEFAULTS.paymentsPort}`)
})

test("HAProxy in front, with the launcher's frontends, checks, timeouts and error pages", () => {
  const launcher = haproxyConfig('/x', '127.0.0.1', [
    { name: 'gateway', port: DEFAULTS.gatewayPort, servers: [], forwardFor: true },
    { name: 'orders', port: DEFAULTS.ordersPort, servers: [] },
    { name: 'payments', port: DEFAULTS.paymentsPort, servers: [] },
  ])
  const lines = (text: string) => text.split('\n').map((l) => l.trim())
  // Every setting of the launcher's config, other than where it binds, its files and its server lines.
  for (const line of lines(launcher)) {
    if (line === '' || /^(bind|stats socket|errorfile|server )/.test(line)) continue
    // Compose's default-server adds how the replicas are found (Docker's DNS).
    const present = lines(haproxy).some((l) => l === line || (line.startsWith('default-server') && l.startsWith(`${line} `)))
    expect({ line, present }).toEqual({ line, present: true })
  }
  for (const [kind, port] of [
    ['gateway', DEFAULTS.gatewayPort],
    ['orders', DEFAULTS.ordersPort],
    ['payments', DEFAULTS.paymentsPort],
  ] as const) {
    expect(haproxy).toContain(`bind :${port}`)
    expect(haproxy).toContain(`server-template ${kind}- 2 ${kind}:${port} check`)
  }
  // X-Forwarded-For is believed from HAProxy's own address only.
  const address = (compose.services.haproxy!.networks as { gozon: { ipv4_address: string } }).gozon.ipv4_address
  expect(compose.services.gateway!.environment!.TRUSTED_PROXIES).toBe(address)
  // The error pages carry the catalogue's codes and messages.
  expect(compose.configs['haproxy-502']!.content).toContain(JSON.stringify(new AppError('upstream_unavailable').toBody()))
  expect(compose.configs['haproxy-504']!.content).toContain(JSON.stringify(new AppError('upstream_timeout').toBody()))
  expect(compose.configs['haproxy-503']!.content).toContain('"error":"service_unavailable"')
})

test('each service connects with a role of its own to its own database; the one-shot provision step, the only user of the superuser, creates them first', () => {
  const provision = compose.services.provision!
  const urls = { orders: 'ORDERS_DATABASE_URL', payments: 'PAYMENTS_DATABASE_URL', gateway: 'GATEWAY_DATABASE_URL' } as const
  const superuser = compose.services.postgres!.environment!.POSTGRES_USER!
  for (const [service, variable] of Object.entries(urls) as [keyof typeof urls, string][]) {
    const url = new URL(compose.services[service]!.environment![variable]!.replace(/\$\{[^}]*\}/g, 'secret'))
    expect(url.username).toBe(DEFAULTS.databaseRoles[service])
    expect(url.pathname).toBe(`/${DEFAULTS.databases[service]}`)
    expect(compose.services[service]!.environment![variable]).toBe(provision.environment![variable]!)
    expect(compose.services[service]!.depends_on?.provision?.condition).toBe('service_completed_successfully')
    // No other service is given this one's database.
    for (const other of Object.keys(urls).filter((o) => o !== service)) expect(compose.services[other]!.environment![variable]).toBeUndefined()
  }
  expect(new URL(provision.environment!.DATABASE_ADMIN_URL!.replace(/\$\{[^}]*\}/g, 'secret')).username).toBe(superuser)
  expect(provision.command).toEqual(['bun', 'shared/db/provision-main.ts', '--own-server'])
  const mentionsSuperuser = Object.entries(compose.services).filter(
    ([name, s]) => name !== 'provision' && name !== 'postgres' && JSON.stringify(s.environment ?? {}).includes(`//${superuser}:`),
  )
  expect(mentionsSuperuser).toEqual([])
})

// Environment parsing shared by every entry point: each service declares its
// settings once, they are read and validated at start, and every problem is
// reported in one message before the process exits.
import { isIP } from 'node:net'

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`)
    this.name = 'ConfigError'
  }
}

type Env = Record<string, string | undefined>

/** Collects problems while reading variables, then throws them all at once. */
export class EnvReader {
  private readonly problems: string[] = []
  constructor(private readonly env: Env = process.env) {}

  string(name: string, fallback: string): string {
    const raw = this.env[name]
    return raw === undefined || raw === '' ? fallback : raw
  }

  optionalString(name: string): string | undefined {
    const raw = this.env[name]
    return raw === undefined || raw === '' ? undefined : raw
  }

  int(name: string, fallback: number, range: { min: number; max: number }): number {
    const raw = this.env[name]
    if (raw === undefined || raw === '') return fallback
    const value = Number(raw)
    if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(value) || value < range.min || value > range.max) {
      this.problems.push(`${name} must be an integer from ${range.min} to ${range.max}, got "${raw}"`)
      return fallback
    }
    return value
  }

  port(name: string, fallback: number): number {
    return this.int(name, fallback, { min: 0, max: 65535 })
  }

  url(name: string, fallback: string, protocols: string[]): string {
    const value = this.string(name, fallback)
    try {
      const parsed = new URL(value)
      if (!protocols.includes(parsed.protocol)) {
        this.problems.push(`${name} must use ${protocols.join(' or ')}, got "${parsed.protocol}"`)
      }
    } catch {
      this.problems.push(`${name} is not a valid URL`)
    }
    return value
  }

  /** A URL when the variable is set, else undefined. */
  optionalUrl(name: string, protocols: string[]): string | undefined {
    return this.optionalString(name) === undefined ? undefined : this.url(name, '', protocols)
  }

  /** One URL, or several separated by commas (every node of a cluster); each must be valid. */
  urls(name: string, fallback: string, protocols: string[]): string {
    const value = this.string(name, fallback)
    for (const one of value.split(',')) {
      try {
        const parsed = new URL(one.trim())
        if (!protocols.includes(parsed.protocol)) this.problems.push(`${name} must use ${protocols.join(' or ')}, got "${parsed.protocol}"`)
      } catch {
        this.problems.push(`${name} is not a valid URL or comma-separated list of URLs`)
      }
    }
    return value
  }

  /** IP addresses separated by commas (none when unset); each must be an IPv4 or IPv6 address. */
  addresses(name: string): string[] {
    const raw = this.optionalString(name)
    if (raw === undefined) return []
    const list = raw
      .split(',')
      .map((a) => a.trim())
      .filter((a) => a !== '')
    for (const a of list) if (isIP(a) === 0) this.problems.push(`${name} must list IP addresses separated by commas, got "${a}"`)
    return list
  }

  boolean(name: string, fallback: boolean): boolean {
    const raw = this.env[name]
    if (raw === undefined || raw === '') return fallback
    if (['true', '1', 'yes'].includes(raw)) return true
    if (['false', '0', 'no'].includes(raw)) return false
    this.problems.push(`${name} must be true or false, got "${raw}"`)
    return fallback
  }

  /** A secret: at least `minLength` characters when set (never echoed in messages). */
  secret(name: string, minLength: number): string | undefined {
    const raw = this.optionalString(name)
    if (raw !== undefined && raw.length < minLength) this.problems.push(`${name} must be at least ${minLength} characters long`)
    return raw
  }

  /** Records a problem that involves several variables. */
  problem(message: string): void {
    this.problems.push(message)
  }

  oneOf<T extends string>(name: string, fallback: T, allowed: readonly T[]): T {
    const value = this.string(name, fallback)
    if (!(allowed as readonly string[]).includes(value)) {
      this.problems.push(`${name} must be one of ${allowed.join(', ')}, got "${value}"`)
      return fallback
    }
    return value as T
  }

  /** Throws a ConfigError listing every problem found so far. */
  done(): void {
    if (this.problems.length > 0) throw new ConfigError(this.problems)
  }
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

/** Defaults shared by the launcher and the services, so that each works alone. */
export const DEFAULTS = {
  gatewayPort: 3000,
  ordersPort: 3001,
  paymentsPort: 3002,
  embeddedPostgresPort: 5433,
  embeddedNatsPort: 4223,
  postgresUser: 'gozon',
  postgresPassword: 'gozon',
  ordersDatabase: 'gozon_orders',
  paymentsDatabase: 'gozon_payments',
  identityDatabase: 'gozon_identity',
  /** Each service's database, and the role of its own that the launcher gives it (shared/db/provision.ts). */
  databases: { orders: 'gozon_orders', payments: 'gozon_payments', gateway: 'gozon_identity' },
  databaseRoles: { orders: 'gozon_orders', payments: 'gozon_payments', gateway: 'gozon_gateway' },
} as const

export const defaultDatabaseUrl = (database: string, port: number = DEFAULTS.embeddedPostgresPort): string =>
  `postgres://${DEFAULTS.postgresUser}:${DEFAULTS.postgresPassword}@127.0.0.1:${port}/${database}`

export const defaultNatsUrl = `nats://127.0.0.1:${DEFAULTS.embeddedNatsPort}`

/** For entry points: load the configuration or print what is wrong and exit 1. */
export function loadConfigOrExit<T>(load: () => T): T {
  try {
    return load()
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    console.error(error.message)
    process.exit(1)
  }
}

// What the processes the launcher starts inherit from its environment: all of
// it but the keys, tokens, passwords and database URLs. Each child is then
// given exactly the ones it needs (launcher/start.ts: a service its own
// database URL and the proof key, the gateway its signing keys); the servers
// (PostgreSQL, nats-server, HAProxy) need none, and /proc/<pid>/environ would
// show them to whoever can read that process.
const SECRET = /(_KEY|_KEYS|_TOKEN|_PASSWORD|DATABASE_URL|DATABASE_ADMIN_URL)$/

export function inheritedEnvironment(): Record<string, string | undefined> {
  const env = { ...process.env }
  for (const name of Object.keys(env)) if (SECRET.test(name)) delete env[name]
  return env
}

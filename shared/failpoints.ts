// Named fail points: places where a test can make the process "die" at an
// exact line (after a commit and before the ack, say). Off unless armed, and
// then a single Map lookup.
//
// Armed from the environment for real-process fault tests:
//   GOZON_FAILPOINTS="payments-service.after-commit=kill,orders.relay.after-publish=kill"
// or from a test in the same process with armFailpoint(name), which throws
// SimulatedCrash: the caller must then behave as if the process had died.

export type FailpointAction = 'kill' | 'throw'

export class SimulatedCrash extends Error {
  constructor(readonly failpoint: string) {
    super(`simulated crash at fail point ${failpoint}`)
    this.name = 'SimulatedCrash'
  }
}

type Armed = { action: FailpointAction; remaining: number }
const armed = new Map<string, Armed>()

function parseEnv(spec: string | undefined): void {
  for (const part of (spec ?? '').split(',')) {
    const [name, action = 'kill'] = part.trim().split('=')
    if (!name) continue
    if (action !== 'kill' && action !== 'throw') throw new Error(`GOZON_FAILPOINTS: unknown action "${action}" for ${name}`)
    armed.set(name, { action, remaining: Number.POSITIVE_INFINITY })
  }
}
parseEnv(process.env.GOZON_FAILPOINTS)

export function armFailpoint(name: string, options: { action?: FailpointAction; times?: number } = {}): void {
  armed.set(name, { action: options.action ?? 'throw', remaining: options.times ?? 1 })
}

export function disarmAllFailpoints(): void {
  armed.clear()
}

export function failpoint(name: string): void {
  if (armed.size === 0) return
  const entry = armed.get(name)
  if (!entry) return
  entry.remaining -= 1
  if (entry.remaining <= 0) armed.delete(name)
  if (entry.action === 'kill') {
    process.stderr.write(`fail point ${name}: killing process ${process.pid}\n`)
    process.kill(process.pid, 'SIGKILL')
  }
  throw new SimulatedCrash(name)
}

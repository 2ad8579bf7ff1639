// Keeps the launcher's processes running: one that exits unexpectedly (a
// crash, an OOM kill, `kill -9`) is started again after an exponential
// back-off with jitter (shared/backoff.ts), and its exit is logged with its
// code or signal. One that keeps exiting (more than `maxRestarts` times
// within `windowMs`) is given up on with one clear line; the others carry on,
// and the gateway's /health and the Operations page show what is down.
//
// Orders placed meanwhile are not lost: they wait in their service's outbox,
// in NATS, or in the page's retry, and the relay's sweep, the consumers'
// redeliveries and the stuck-order sweeper finish them once the process is
// back (test/faults/supervision.test.ts).
import type { ChildProcess } from 'node:child_process'
import { type Backoff, backoffMs } from '../shared/backoff'
import type { Logger } from '../shared/logger'

export type SupervisorSettings = { maxRestarts: number; windowMs: number; backoff: Backoff }

export const DEFAULT_SUPERVISION: SupervisorSettings = { maxRestarts: 5, windowMs: 60_000, backoff: { baseMs: 500, maxMs: 10_000 } }

type Unit = {
  name: string
  /** The unit's current process. */
  process: () => ChildProcess | undefined
  /** Starts it again; resolves once it runs (or throws: that counts as another exit). */
  restart: () => Promise<void>
  exits: number[]
  state: 'up' | 'restarting' | 'given up'
}

export class Supervisor {
  private readonly units = new Map<string, Unit>()
  private stopping = false
  private readonly timers = new Set<Timer>()
  /** Restarts under way: a stop waits for them, so that what they start is there to be stopped. */
  private readonly restarting = new Set<Promise<void>>()

  constructor(
    private readonly log: Logger,
    private readonly settings: SupervisorSettings = DEFAULT_SUPERVISION,
    /** Called after each successful restart (the launcher rewrites its state file: new pids). */
    private readonly onRestarted: (name: string) => void = () => {},
  ) {}

  /** Watches a process from now on; `restart` starts a new one in its place. */
  watch(name: string, process: () => ChildProcess | undefined, restart: () => Promise<void>): void {
    const unit: Unit = { name, process, restart, exits: [], state: 'up' }
    this.units.set(name, unit)
    this.follow(unit)
  }

  /**
   * From now on exits are expected (Ctrl-C): nothing more is restarted.
   * Resolves once the restarts already under way have finished (at most
   * `waitMs`), so that the caller's stop reaches the processes they started.
   */
  async stop(waitMs = 30_000): Promise<void> {
    this.stopping = true
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
    const pending = Promise.allSettled([...this.restarting])
    await Promise.race([pending, Bun.sleep(waitMs)])
  }

  /** Each unit's state, for logs and tests. */
  states(): Record<string, Unit['state']> {
    return Object.fromEntries([...this.units.values()].map((u) => [u.name, u.state]))
  }

  private follow(unit: Unit): void {
    const child = unit.process()
    if (!child) return
    let seen = false
    const once = (code: number | null, signal: NodeJS.Signals | null) => {
      if (seen) return
      seen = true
      this.exited(unit, code, signal)
    }
    child.once('exit', once)
    // A process that could not be spawned at all (EAGAIN, ENOMEM) reports an error and may never exit.
    child.once('error', (error) => {
      this.log.error({ child: unit.name, err: error }, `${unit.name} could not be run`)
      once(null, null)
    })
  }

  private exited(unit: Unit, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.stopping) return
    const now = Date.now()
    unit.exits = [...unit.exits.filter((at) => now - at < this.settings.windowMs), now]
    if (unit.exits.length > this.settings.maxRestarts) {
      unit.state = 'given up'
      this.log.error(
        { child: unit.name, code, signal, exits: unit.exits.length, withinMs: this.settings.windowMs },
        `${unit.name} exited ${unit.exits.length} times within ${this.settings.windowMs / 1000} s; not restarting it again (the rest of Gozon carries on; /health shows it down)`,
      )
      return
    }
    const delay = backoffMs(unit.exits.length, this.settings.backoff)
    unit.state = 'restarting'
    this.log.error({ child: unit.name, code, signal, restartInMs: delay }, `${unit.name} exited unexpectedly; restarting it`)
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      if (this.stopping) return
      const restart = unit.restart()
      this.restarting.add(restart)
      void restart.finally(() => this.restarting.delete(restart)).catch(() => {})
      restart.then(
        () => {
          if (this.stopping) return
          unit.state = 'up'
          this.log.info({ child: unit.name, pid: unit.process()?.pid }, `${unit.name} restarted`)
          this.onRestarted(unit.name)
          this.follow(unit)
        },
        (error: unknown) => {
          this.log.error({ child: unit.name, err: error }, `${unit.name} could not be restarted`)
          this.exited(unit, null, null)
        },
      )
    }, delay)
    this.timers.add(timer)
  }
}

// The launcher's supervisor (launcher/supervisor.ts) with real processes: one
// that exits is started again, and one that keeps exiting is given up on with
// one line; an expected stop restarts nothing.
import { expect, test } from 'bun:test'
import { type ChildProcess, spawn } from 'node:child_process'
import { Supervisor } from '../../launcher/supervisor'
import type { Logger } from '../../shared/logger'

function recordingLog() {
  const lines: { level: string; fields: Record<string, unknown>; message: string }[] = []
  const at = (level: string) => (fields: Record<string, unknown>, message: string) => void lines.push({ level, fields, message })
  return { lines, log: { error: at('error'), warn: at('warn'), info: at('info') } as unknown as Logger }
}

const fast = { maxRestarts: 3, windowMs: 60_000, backoff: { baseMs: 10, maxMs: 20 } }

test('a process that exits is started again, with its exit code in the log', async () => {
  const { lines, log } = recordingLog()
  const restarted: string[] = []
  const supervisor = new Supervisor(log, fast, (name) => restarted.push(name))
  let child: ChildProcess = spawn('sh', ['-c', 'exit 3'])
  let starts = 0
  supervisor.watch(
    'flaky',
    () => child,
    async () => {
      starts += 1
      child = spawn('sh', ['-c', 'sleep 30'])
    },
  )
  for (let i = 0; i < 100 && restarted.length === 0; i++) await Bun.sleep(20)
  expect(starts).toBe(1)
  expect(supervisor.states()).toEqual({ flaky: 'up' })
  expect(lines.find((l) => l.message === 'flaky exited unexpectedly; restarting it')?.fields).toMatchObject({ child: 'flaky', code: 3 })
  supervisor.stop()
  child.kill('SIGKILL')
  await Bun.sleep(50)
  expect(starts).toBe(1) // a stop is expected: nothing restarted
})

test('a process that keeps exiting is given up on after maxRestarts within the window, with one line', async () => {
  const { lines, log } = recordingLog()
  const supervisor = new Supervisor(log, fast)
  let child: ChildProcess = spawn('sh', ['-c', 'exit 1'])
  let starts = 0
  supervisor.watch(
    'crasher',
    () => child,
    async () => {
      starts += 1
      child = spawn('sh', ['-c', 'kill -9 $$'])
    },
  )
  for (let i = 0; i < 200 && supervisor.states().crasher !== 'given up'; i++) await Bun.sleep(20)
  expect(supervisor.states()).toEqual({ crasher: 'given up' })
  expect(starts).toBe(3)
  const gaveUp = lines.filter((l) => l.message.startsWith('crasher exited 4 times within 60 s; not restarting it again'))
  expect(gaveUp).toHaveLength(1)
  expect(gaveUp[0]!.fields).toMatchObject({ signal: 'SIGKILL' })
  supervisor.stop()
})

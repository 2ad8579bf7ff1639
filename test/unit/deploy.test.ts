// deploy/gozon.service cannot be run here (no systemd as PID 1): this keeps it
// consistent with the launcher it starts (`systemd-analyze verify` accepts it).
import { expect, test } from 'bun:test'
import { existsSync } from 'node:fs'
import { join } from 'node:path'

const root = join(import.meta.dir, '..', '..')
const unit = await Bun.file(join(root, 'deploy', 'gozon.service')).text()
const settings = new Map<string, string[]>()
for (const line of unit.split('\n')) {
  const match = /^([A-Za-z]+)=(.*)$/.exec(line.trim())
  if (match) settings.set(match[1]!, [...(settings.get(match[1]!) ?? []), match[2]!])
}
const one = (name: string) => settings.get(name)?.[0]

test('runs the launcher itself (not bun start, which installs), from the checkout, as its own user', () => {
  const exec = one('ExecStart')!
  expect(exec).toBe('/usr/bin/env bun /opt/gozon/launcher/start.ts')
  expect(existsSync(join(root, exec.split(' ').at(-1)!.replace('/opt/gozon/', '')))).toBe(true)
  expect(one('User')).toBe('gozon')
  expect(one('WorkingDirectory')).toBe('/opt/gozon')
})

test('its data in the state directory, the only place it may write; secrets from an environment file; logs to the journal', () => {
  const environment = Object.fromEntries((settings.get('Environment') ?? []).map((e) => e.split('=') as [string, string]))
  expect(environment.GOZON_DATA_DIR).toBe(`/var/lib/${one('StateDirectory')}`)
  expect(one('ReadWritePaths')).toBe(environment.GOZON_DATA_DIR)
  expect(one('ProtectSystem')).toBe('strict')
  expect(one('EnvironmentFile')).toBe('/etc/gozon/gozon.env')
  expect([one('StandardOutput'), one('StandardError')]).toEqual(['journal', 'journal'])
})

test('stops it the way the launcher stops in order, with time for it; restarts the launcher if it fails', async () => {
  expect(['SIGTERM', 'SIGINT']).toContain(one('KillSignal')!)
  const launcher = await Bun.file(join(root, 'launcher', 'start.ts')).text()
  expect(launcher).toContain(`process.on('${one('KillSignal')}'`)
  // Each child gets 20 s before SIGKILL (stopChild), gateways then services: well within the stop timeout.
  expect(Number(one('TimeoutStopSec'))).toBeGreaterThanOrEqual(60)
  expect(one('Restart')).toBe('on-failure')
})

// Which nats-server the launcher and the tests run, and the refusal of one
// that cannot fsync before acknowledging (older than 2.10).
import { afterEach, expect, test } from 'bun:test'
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { NatsTooOldError, natsServerBinary, startNats } from '../../launcher/nats'

/** A stand-in nats-server that only answers --version. */
function fakeServer(version: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'fake-nats-'))
  const path = join(dir, 'nats-server')
  writeFileSync(path, `#!/bin/sh\necho "nats-server: ${version}"\n`)
  chmodSync(path, 0o755)
  return path
}

const saved = process.env.GOZON_NATS_SERVER
afterEach(() => {
  if (saved === undefined) delete process.env.GOZON_NATS_SERVER
  else process.env.GOZON_NATS_SERVER = saved
})

test('GOZON_NATS_SERVER names the binary, with its version', () => {
  const path = fakeServer('v2.11.4')
  expect(natsServerBinary({ GOZON_NATS_SERVER: path })).toEqual({ path, version: 'nats-server: v2.11.4' })
})

test('a nats-server older than 2.10 is refused with what it means and what to do, unless explicitly allowed', async () => {
  process.env.GOZON_NATS_SERVER = fakeServer('v2.9.10')
  const refused = await startNats({ storeDir: mkdtempSync(join(tmpdir(), 'nats-store-')), port: 1, allowWithoutFsync: false }).catch((e: unknown) => e)
  expect(refused).toBeInstanceOf(NatsTooOldError)
  expect((refused as Error).message).toContain('older than 2.10: it cannot fsync before acknowledging')
  expect((refused as Error).message).toContain('bash launcher/install-nats.sh')
  expect((refused as Error).message).toContain('GOZON_ALLOW_NATS_WITHOUT_FSYNC=true')
})

test('the server the tests run is 2.10 or later (launcher/install-nats.sh made sure), unless explicitly waived', () => {
  const found = natsServerBinary()
  expect(found).toBeDefined()
  if (process.env.GOZON_ALLOW_NATS_WITHOUT_FSYNC !== 'true') expect(found!.version).toMatch(/v(2\.(1\d|[2-9]\d)|[3-9])\./)
})

// A service that starts while its NATS cluster cannot take its streams (one
// node of three up: no quorum, no leader) does not wait in silence: it says
// every few seconds what it waits for, and gives up after its patience with
// the reason, so an operator sees why it does not come up.
import { afterAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import pino from 'pino'
import { freePort } from '../../launcher/free-port'
import { type RunningNats, startNats } from '../../launcher/nats'
import { connectNats, DEFAULT_MESSAGING, ensureOwnStreams } from '../../shared/messaging/nats'

const root = mkdtempSync(join(tmpdir(), 'gozon-streams-'))
let nats: RunningNats | undefined
afterAll(async () => {
  await nats?.stop('SIGKILL')
  rmSync(root, { recursive: true, force: true })
})

test('waiting for a cluster without quorum, the publisher says so every 5 s and gives up after its patience', async () => {
  const [port, route, peerA, peerB] = [await freePort(), await freePort(), await freePort(), await freePort()]
  nats = await startNats({
    storeDir: join(root, 'n1'),
    port,
    cluster: { clusterName: 'gozon', serverName: 'gozon-n1', routePort: route, peerRoutePorts: [peerA, peerB] },
  })
  const lines: { level: number; msg: string; waitedMs?: number }[] = []
  const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line)) })
  const nc = await connectNats(nats.url, 'streams-test', log)
  const jsm = await jetstreamManager(nc, { checkAPI: false, timeout: 1000 })
  const started = Date.now()
  const outcome = await ensureOwnStreams(jsm, 'orders', { ...DEFAULT_MESSAGING, streamReplicas: 3 }, log, 14_000).catch((e: unknown) => e)
  const took = Date.now() - started
  await nc.close()

  expect(outcome).toBeInstanceOf(Error) // the last answer the cluster gave, thrown for the service to report
  expect(took).toBeGreaterThanOrEqual(14_000)
  expect(took).toBeLessThan(19_000) // the last question's own timeout and back-off
  const waits = lines.filter((l) => l.msg === 'NATS cannot take the streams yet; asking again')
  expect(waits.length).toBeGreaterThanOrEqual(2) // not before 5 s, then at most one every 5 s
  expect(waits.every((l) => l.level === 40)).toBe(true) // warnings: an error only from 20 s on
  const waited = waits.map((l) => l.waitedMs ?? 0)
  expect(waited[0]).toBeGreaterThanOrEqual(5000)
  expect(waited.slice(1).every((ms, i) => ms - waited[i]! >= 5000)).toBe(true)
}, 40_000)

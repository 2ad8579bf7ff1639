// The live hub on a real nats-server that dies and comes back on its port:
// announcements sent while the gateway was disconnected are gone (core
// pub/sub), so after the reconnect every page socket is sent its snapshot
// again and every API socket is closed with 1012 for its client to reconnect.
import { afterAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LiveHub, type LiveSocket } from '../../gateway/live-hub'
import { freePort } from '../../launcher/free-port'
import { type RunningNats, startNats } from '../../launcher/nats'
import { createLogger } from '../../shared/logger'
import { connectNats } from '../../shared/messaging/nats'
import { Currency } from '../../views/money'
import { eventually } from '../support/poll'

const root = mkdtempSync(join(tmpdir(), 'gozon-resync-'))
let nats: RunningNats | undefined
afterAll(async () => {
  await nats?.stop('SIGKILL')
  rmSync(root, { recursive: true, force: true })
})

function recordingSocket(kind: LiveSocket['kind'], userId: string) {
  const sent: string[] = []
  const closes: { code: number; reason: string }[] = []
  const socket: LiveSocket = { kind, userId, send: (text) => void sent.push(text), close: (code, reason) => void closes.push({ code, reason }) }
  return { socket, sent, closes }
}

test('after a NATS reconnect, pages get their snapshot again and API clients are asked to reconnect', async () => {
  const port = await freePort()
  const options = { storeDir: join(root, 'nats'), port }
  nats = await startNats(options)
  const log = createLogger('gateway', 'silent')
  const nc = await connectNats(nats.url, 'resync-test', log)
  const hub = new LiveHub({ nc, client: { balance: async () => 0 }, log, currency: new Currency('EUR') })
  hub.start()

  // What the page shows, as the orders service would answer a snapshot read.
  let state = 'order NEW'
  const page = recordingSocket('page', 'u1')
  const api = recordingSocket('api', 'u1')
  await hub.add(page.socket, async () => [state])
  await hub.add(api.socket, async () => ['[]'])
  expect(page.sent).toEqual(['order NEW'])

  // The server dies; the order is paid while this gateway cannot hear the announcement.
  await nats.stop('SIGKILL')
  state = 'order FINISHED'
  nats = await startNats(options)

  await eventually('the page was sent its snapshot again', () => page.sent.length === 2, { timeoutMs: 15_000 })
  expect(page.sent).toEqual(['order NEW', 'order FINISHED'])
  expect(page.closes).toEqual([])
  expect(api.closes).toEqual([{ code: 1012, reason: 'reconnect: status changes may have been missed' }])
  expect(hub.socketCount('u1')).toBe(1)
  await hub.stop()
  await nc.close()
}, 30_000)

// Asks the kernel for a free loopback TCP port.
import { connect, createServer } from 'node:net'

/** Ports this process has handed out: the kernel may offer a port again once it is closed, before its taker listens. */
const handedOut = new Set<number>()

function askKernel(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

/** A free loopback port, never one this process handed out before (six asked for at once are six ports). */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await askKernel()
    if (handedOut.has(port)) continue
    handedOut.add(port)
    return port
  }
}

/** True when a listener could bind 127.0.0.1:port now. */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.unref()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/**
 * A free loopback port below Linux's ephemeral range (32768 and up), for a
 * server started a moment later: a port from the kernel's range can meanwhile
 * become the local end of some outgoing connection (a nats-server's route to
 * its peers, a PostgreSQL client), and then the server cannot bind it — a
 * cluster node that died so, right after its client port opened, left a
 * cluster of two that could not place three replicas.
 */
export async function listenPort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000)
    if (handedOut.has(port) || !(await canBind(port))) continue
    handedOut.add(port)
    return port
  }
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function portIsOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

export async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await portIsOpen(port)) return
    await Bun.sleep(50)
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`)
}

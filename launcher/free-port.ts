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

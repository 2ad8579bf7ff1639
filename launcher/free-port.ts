// Asks the kernel for a free loopback TCP port.
import { createServer } from 'node:net'

export function freePort(): Promise<number> {
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

export async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = Bun.connect({
        hostname: '127.0.0.1',
        port,
        socket: { open: (s) => (s.end(), resolve(true)), error: () => resolve(false), data: () => {}, connectError: () => resolve(false) },
      }).catch(() => resolve(false))
      void socket
    })
    if (open) return
    await Bun.sleep(50)
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`)
}

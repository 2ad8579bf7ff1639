// A TCP load balancer for the fault suite, standing in for the one in front
// of several gateway instances: each new connection (HTTP or WebSocket) goes
// to the first backend that accepts it, so everything lands on one instance
// while it lives and fails over to the next when it is gone.
import net from 'node:net'

export type Balancer = {
  port: number
  url: string
  /** Connections open right now, by backend port. */
  openConnections(): Record<number, number>
  stop(): Promise<void>
}

export function startBalancer(backendPorts: number[]): Promise<Balancer> {
  const open = new Map<number, number>(backendPorts.map((p) => [p, 0]))
  const clients = new Set<net.Socket>()

  function route(client: net.Socket, index: number): void {
    const port = backendPorts[index]
    if (port === undefined || client.destroyed) return void client.destroy()
    const upstream = net.connect(port, '127.0.0.1')
    let connected = false
    upstream.once('connect', () => {
      connected = true
      open.set(port, open.get(port)! + 1)
      client.pipe(upstream)
      upstream.pipe(client)
    })
    upstream.once('close', () => {
      if (!connected) return
      open.set(port, open.get(port)! - 1)
      client.destroy()
    })
    upstream.once('error', () => {
      // Refused: this instance is down, try the next. Reset mid-stream: the client sees the drop.
      if (!connected) route(client, index + 1)
    })
    client.once('close', () => upstream.destroy())
  }

  const server = net.createServer((client) => {
    clients.add(client)
    client.once('close', () => clients.delete(client))
    client.on('error', () => client.destroy())
    route(client, 0)
  })
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port
      resolve({
        port,
        url: `http://127.0.0.1:${port}`,
        openConnections: () => Object.fromEntries(open),
        stop: () =>
          new Promise<void>((done) => {
            for (const c of clients) c.destroy()
            server.close(() => done())
          }),
      })
    })
  })
}

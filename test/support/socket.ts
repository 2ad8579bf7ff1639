// A WebSocket client for tests: collects every message and waits for one that matches.

/** The headers of a WebSocket handshake, for tests that send one with fetch to see how it is refused. */
export const UPGRADE_HEADERS = {
  upgrade: 'websocket',
  connection: 'upgrade',
  'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
  'sec-websocket-version': '13',
}

export type TestSocket = {
  messages: string[]
  closed: Promise<{ code: number; reason: string }>
  waitFor(match: (message: string) => boolean, timeoutMs?: number): Promise<string>
  send(text: string): void
  close(): void
}

export async function openSocket(url: string, headers: Record<string, string> = {}): Promise<TestSocket> {
  // Bun's WebSocket accepts headers for the upgrade request.
  const ws = new WebSocket(url, { headers } as unknown as string[])
  const messages: string[] = []
  const waiters = new Set<() => void>()
  ws.addEventListener('message', (event) => {
    messages.push(String(event.data))
    for (const wake of waiters) wake()
  })
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.addEventListener('close', (event) => resolve({ code: event.code, reason: event.reason })),
  )
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener('open', () => resolve())
    ws.addEventListener('error', () => reject(new Error(`could not open ${url}`)))
  })
  return {
    messages,
    closed,
    send: (text) => ws.send(text),
    close: () => ws.close(),
    waitFor(match, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = messages.find(match)
          if (found === undefined) return false
          waiters.delete(check)
          clearTimeout(timer)
          resolve(found)
          return true
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`no matching message within ${timeoutMs} ms; got:\n${messages.join('\n')}`))
        }, timeoutMs)
        if (!check()) waiters.add(check)
      })
    },
  }
}

// Forwards an API request to the service that owns its path, unchanged, and
// relays the answer. No business logic: only transport concerns live here.
import { errorResponse } from '../shared/errors'
import type { Logger } from '../shared/logger'

// Hop-by-hop headers belong to one connection and are not forwarded.
const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'content-encoding',
]

function withoutHopByHop(source: Headers): Headers {
  const headers = new Headers(source)
  for (const name of HOP_BY_HOP) headers.delete(name)
  return headers
}

export type Upstream = { name: string; baseUrl: string }

export async function forward(request: Request, upstream: Upstream, options: { timeoutMs: number; log: Logger }): Promise<Response> {
  const url = new URL(request.url)
  const target = `${upstream.baseUrl}${url.pathname}${url.search}`
  const headers = withoutHopByHop(request.headers)
  if (!headers.has('x-request-id')) headers.set('x-request-id', crypto.randomUUID())
  const hasBody = request.method !== 'GET' && request.method !== 'HEAD'
  try {
    const response = await fetch(target, {
      method: request.method,
      headers,
      body: hasBody ? await request.arrayBuffer() : undefined,
      redirect: 'manual',
      signal: AbortSignal.timeout(options.timeoutMs),
    })
    return new Response(response.body, { status: response.status, headers: withoutHopByHop(response.headers) })
  } catch (error) {
    options.log.warn({ err: error, upstream: upstream.name, path: url.pathname }, 'upstream request failed')
    return errorResponse('upstream_unavailable')
  }
}

/** True when the upstream's /health answers 200 within the timeout. */
export async function upstreamIsUp(upstream: Upstream, timeoutMs = 1000): Promise<boolean> {
  try {
    const response = await fetch(`${upstream.baseUrl}/health`, { signal: AbortSignal.timeout(timeoutMs) })
    return response.status === 200
  } catch {
    return false
  }
}

// Forwards an API request to the service that owns its path and relays the
// answer. No business logic: transport concerns, and identity — the client's
// own credentials and identity headers are removed, and the caller the
// gateway authenticated is stated with the gateway's proof (shared/identity.ts).
import { errorResponse } from '../shared/errors'
import { readBodyWithin } from '../shared/http/json-body'
import { spanOf } from '../shared/http/request-spans'
import { type Audience, bodyDigest, IDENTITY_HEADER, type IdentitySettings, identityHeaders, USER_ID_HEADER } from '../shared/identity'
import type { Logger } from '../shared/logger'
import { traceparentOf } from '../shared/tracing'

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
// What the client may not tell a service: who it is (only the gateway's proof
// says that) and its credentials (the services never need them).
const CLIENT_IDENTITY = [IDENTITY_HEADER, USER_ID_HEADER, 'authorization', 'cookie']

function without(source: Headers, names: readonly string[]): Headers {
  const headers = new Headers(source)
  for (const name of names) headers.delete(name)
  return headers
}

export type Upstream = { name: Audience; baseUrl: string }

/** `bodyTimeoutMs`: the request's body must have arrived within it (408 otherwise; json-body.ts readBodyWithin). */
export type ForwardOptions = { timeoutMs: number; bodyTimeoutMs: number; log: Logger; identity: IdentitySettings }

/** Forwards `request`; `userId` is the authenticated caller, or undefined for public paths (API docs). */
export async function forward(request: Request, upstream: Upstream, userId: string | undefined, options: ForwardOptions): Promise<Response> {
  const url = new URL(request.url)
  const pathAndQuery = `${url.pathname}${url.search}`
  const headers = without(request.headers, [...HOP_BY_HOP, ...CLIENT_IDENTITY])
  const hasBody = request.method !== 'GET' && request.method !== 'HEAD'
  const body = hasBody ? await readBodyWithin(request, options.bodyTimeoutMs) : undefined
  if (userId !== undefined) {
    // The proof names this very request: method, path with query and the body's digest.
    const proof = identityHeaders(options.identity, upstream.name, userId, { method: request.method, pathAndQuery, bodyDigest: bodyDigest(body) })
    for (const [name, value] of Object.entries(proof)) headers.set(name, value)
  }
  if (!headers.has('x-request-id')) headers.set('x-request-id', crypto.randomUUID())
  // The service's span is a child of this request's (shared/tracing.ts); a client's own traceparent went into that one.
  headers.delete('traceparent')
  headers.delete('tracestate')
  const traceparent = traceparentOf(spanOf(request))
  if (traceparent) headers.set('traceparent', traceparent)
  try {
    const response = await fetch(`${upstream.baseUrl}${pathAndQuery}`, {
      method: request.method,
      headers,
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(options.timeoutMs),
    })
    return new Response(response.body, { status: response.status, headers: without(response.headers, HOP_BY_HOP) })
  } catch (error) {
    const timedOut = error instanceof Error && error.name === 'TimeoutError'
    options.log.warn({ err: error, upstream: upstream.name, path: url.pathname, timedOut }, 'upstream request failed')
    return errorResponse(timedOut ? 'upstream_timeout' : 'upstream_unavailable')
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

// Guards a request's body before Elysia parses it: at most MAX_BODY_BYTES
// (413 otherwise; the server also cuts off longer chunked bodies), and JSON
// only (415 otherwise, rather than a confusing validation error).
import { Elysia } from 'elysia'
import { AppError } from '../errors'

/** The largest request body any Gozon API accepts. */
export const MAX_BODY_BYTES = 16 * 1024
/**
 * Bun's own cut-off, for bodies that announce no length or a huge one: it
 * answers a bare 413 before any handler runs, so it sits above MAX_BODY_BYTES
 * and requests up to it get our JSON 413 instead.
 */
export const SERVER_BODY_LIMIT = 64 * 1024

export function bodyTooLarge(request: Request): boolean {
  return Number(request.headers.get('content-length') ?? 0) > MAX_BODY_BYTES
}

const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH'])

function hasBody(request: Request): boolean {
  const length = request.headers.get('content-length')
  if (length !== null) return length !== '0'
  return request.headers.has('transfer-encoding')
}

/** Throws 413 or 415 unless the request has no body or a JSON body of at most MAX_BODY_BYTES. */
export function requireJsonBody(request: Request): void {
  if (!METHODS_WITH_BODY.has(request.method) || !hasBody(request)) return
  if (bodyTooLarge(request)) throw new AppError('payload_too_large')
  const type = request.headers.get('content-type') ?? ''
  const mediaType = type.split(';')[0]!.trim().toLowerCase()
  if (mediaType !== 'application/json') throw new AppError('unsupported_media_type')
}

export const jsonBodyOnly = new Elysia({ name: 'gozon.json-body' }).onRequest(({ request }) => requireJsonBody(request))

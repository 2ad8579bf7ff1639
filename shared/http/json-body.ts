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

/** The media type of a Content-Type header, lower-cased (media types are case-insensitive, RFC 9110 §8.3.1). */
export function mediaTypeOf(request: Request): string {
  return (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase()
}

/** A body schema that got nothing although the request said JSON: the body is not valid JSON (400 invalid_json rather than a schema complaint). */
export function isEmptyJsonBody(error: { type: string; value: unknown }, request: Request): boolean {
  return error.type === 'body' && error.value === undefined && mediaTypeOf(request) === 'application/json'
}

/** Throws 413 or 415 unless the request has no body or a JSON body of at most MAX_BODY_BYTES. */
export function requireJsonBody(request: Request): void {
  if (!METHODS_WITH_BODY.has(request.method) || !hasBody(request)) return
  if (bodyTooLarge(request)) throw new AppError('payload_too_large')
  if (mediaTypeOf(request) !== 'application/json') throw new AppError('unsupported_media_type')
}

/** No body of ours nests deeper; far deeper ones would overflow the stack of the schema check's error report. */
export const MAX_JSON_DEPTH = 32

/** True when the JSON text opens more than `max` arrays or objects inside each other (strings are skipped). */
export function nestedDeeperThan(text: string, max: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c)
        i++ // backslash: skip the escaped character
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true
    } else if (c === 0x5d || c === 0x7d) depth--
  }
  return false
}

export const jsonBodyOnly = new Elysia({ name: 'gozon.json-body' }).onRequest(({ request }) => requireJsonBody(request))

/**
 * An onParse hook's body for JSON whatever the case of its media type
 * (Elysia's own parser wants it lower-case). `contentType` is the one Elysia
 * hands the hook: empty when the request has no body, which is left to the
 * route (a schema that wants one answers invalid_json, errors-plugin.ts).
 */
export const parseJsonOfAnyCase = (request: Request, contentType: string, bodyTimeoutMs: number, seen?: (body: string) => void) =>
  contentType.trim().toLowerCase() === 'application/json' ? parseJsonBody(request, bodyTimeoutMs, seen) : undefined

/** An HTML form's fields (application/x-www-form-urlencoded), read within the deadline; the last of repeated names wins. */
export async function parseFormWithin(request: Request, bodyTimeoutMs: number): Promise<Record<string, string>> {
  return Object.fromEntries(new URLSearchParams(await readTextWithin(request, bodyTimeoutMs)))
}

/**
 * The whole body as bytes, or 408 request_timeout when it has not all
 * arrived within `ms` from the first read: a body that trickles in (a
 * slowloris client sending a byte now and then, which an idle timeout never
 * cuts) holds no handler and no connection for longer than that.
 */
export async function readBodyWithin(request: Request, ms: number): Promise<Uint8Array<ArrayBuffer>> {
  if (!request.body) return new Uint8Array(await request.arrayBuffer())
  const reader = request.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  let timer: Timer | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AppError('request_timeout')), ms)
  })
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), deadline])
      if (done) break
      chunks.push(value)
      size += value.length
      if (size > MAX_BODY_BYTES) throw new AppError('payload_too_large')
    }
  } catch (error) {
    void reader.cancel().catch(() => {})
    throw error
  } finally {
    clearTimeout(timer)
  }
  const body = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    body.set(chunk, offset)
    offset += chunk.length
  }
  return body
}

export async function readTextWithin(request: Request, ms: number): Promise<string> {
  return new TextDecoder().decode(await readBodyWithin(request, ms))
}

/**
 * Elysia's parser for JSON bodies in the services: reads the body once as
 * text, hands it to `seen` (the identity proof's digest is of exactly these
 * bytes), refuses JSON nested deeper than MAX_JSON_DEPTH (422) and invalid
 * JSON (400), and parses it. (Reading a copy of every body instead cost
 * ~50 µs a request in Request.clone().)
 */
export async function parseJsonBody(request: Request, bodyTimeoutMs: number, seen?: (body: string) => void): Promise<unknown> {
  const text = await readTextWithin(request, bodyTimeoutMs)
  seen?.(text)
  if (nestedDeeperThan(text, MAX_JSON_DEPTH)) {
    throw new AppError('validation_failed', [{ field: '/', message: `The JSON is nested more than ${MAX_JSON_DEPTH} levels deep` }])
  }
  try {
    return JSON.parse(text)
  } catch {
    throw new AppError('invalid_json')
  }
}

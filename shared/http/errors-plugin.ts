// The single error handler of a service: maps AppError and Elysia's own errors
// to the catalogue and never lets a stack trace or SQL reach the client.
import { Elysia, ParseError, ValidationError } from 'elysia'
import { AppError, type ErrorCode } from '../errors'
import type { Logger } from '../logger'
import { isEmptyJsonBody } from './json-body'
import { problemMessage } from './validation-messages'

type FieldProblem = { field: string; message: string }

// Socket and driver codes of a connection that is refused, cut or never made;
// postgres.js reports its own (CONNECTION_*), Bun's node:net the rest.
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTCONN',
  'ERR_SOCKET_CLOSED',
  'ERR_STREAM_DESTROYED',
  'ERR_STREAM_WRITE_AFTER_END',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
])

/** A dependency that is down or restarting, rather than a bug: 503, so clients retry. */
export function isUnavailable(error: unknown): boolean {
  // Drizzle wraps the driver's error (DrizzleQueryError); the code is on a cause.
  for (let e = error, depth = 0; e && typeof e === 'object' && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code !== 'string') continue
    if (
      CONNECTION_CODES.has(code) ||
      code.startsWith('08') || // connection exception
      code.startsWith('57P') || // shutting down, crashed, starting up, database dropped (operator intervention)
      code === '53300' // too many connections
    )
      return true
  }
  return false
}

/** The client went away while its request was being read (an upload cut short, a closed tab). */
export function isClientAbort(error: unknown): boolean {
  // Our own fetches time out with TimeoutError; AbortError here is the request's body stream cut by the client.
  return error instanceof DOMException && error.name === 'AbortError'
}

function validationDetails(error: ValidationError, request: Request): FieldProblem[] {
  const problems = error.all.map((e) => ({
    field: 'path' in e && typeof e.path === 'string' && e.path !== '' ? e.path : (coercedQueryField(error, request) ?? '/'),
    message: 'type' in e && 'schema' in e ? problemMessage(e as { type: number; schema: Record<string, unknown> }) : 'Not valid here.',
  }))
  // One line per field is enough for a client; TypeBox may report several.
  return problems.filter((p, i) => problems.findIndex((q) => q.field === p.field) === i)
}

/**
 * The query parameter of a number that Elysia coerced from text and then found
 * out of range: it reports such a problem without the parameter's name
 * ("property", path ""), so the name is the parameter whose text is that number.
 */
function coercedQueryField(error: ValidationError, request: Request): string | undefined {
  if (error.type !== 'property' || typeof error.value !== 'number') return undefined
  for (const [name, text] of new URL(request.url).searchParams) if (text.trim() !== '' && Number(text) === error.value) return `/${name}`
  return undefined
}

export function errorsPlugin(log: Logger) {
  return new Elysia({ name: 'gozon.errors' }).onError({ as: 'global' }, ({ code, error, set, request }) => {
    let appError: AppError
    if (error instanceof AppError) appError = error
    // A refusal thrown by a body parser of ours (shared/http/json-body.ts) arrives wrapped in Elysia's ParseError.
    else if (error instanceof ParseError && error.cause instanceof AppError) appError = error.cause
    // A JSON body that is empty fails the schema as "no object"; it is not JSON at all.
    else if (error instanceof ValidationError)
      appError = isEmptyJsonBody(error, request) ? new AppError('invalid_json') : new AppError('validation_failed', validationDetails(error, request))
    else {
      const mapped: Partial<Record<string | number, ErrorCode>> = {
        PARSE: 'invalid_json',
        NOT_FOUND: 'not_found',
        INVALID_COOKIE_SIGNATURE: 'unauthorized',
      }
      const known = mapped[code]
      if (known) appError = new AppError(known)
      else if (isClientAbort(error)) {
        // Nobody is listening for the answer; one line, not the exception.
        log.info({ method: request.method, url: request.url }, 'the client closed the connection before its request was read')
        appError = new AppError('bad_request')
      } else if (isUnavailable(error)) {
        log.warn({ err: error, method: request.method, url: request.url }, 'dependency unavailable')
        appError = new AppError('service_unavailable')
      } else {
        log.error({ err: error, method: request.method, url: request.url }, 'unhandled error')
        appError = new AppError('internal_error')
      }
    }
    set.status = appError.status
    set.headers['content-type'] = 'application/json'
    return appError.toBody()
  })
}

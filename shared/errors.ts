// The error catalogue: every error a client can see, with its stable code,
// HTTP status and human message. Services throw `new AppError(code)`; the one
// `onError` in ./http/errors-plugin.ts turns it into `{error, message}`.

export const ERRORS = {
  bad_request: { status: 400, message: 'The request is malformed (an HTTP/1.1 request needs a Host header)' },
  invalid_json: { status: 400, message: 'The request body is not valid JSON' },
  invalid_idempotency_key: { status: 400, message: 'Idempotency-Key must be 1-255 printable ASCII characters' },
  unauthorized: { status: 401, message: 'Authentication required: send Authorization: Bearer <token> (get one from POST /api/auth/token)' },
  identity_proof_required: {
    status: 401,
    message:
      "This service answers only requests that come through the gateway, with its proof of the caller (Gozon-Identity, fresh and used once): call the gateway's API",
  },
  metrics_token_required: { status: 401, message: 'Send Authorization: Bearer <METRICS_TOKEN> to read the metrics' },
  invalid_credentials: { status: 401, message: 'Unknown user name or wrong password' },
  token_expired: { status: 401, message: 'The token has expired; get a new one from POST /api/auth/token' },
  cross_origin_request: { status: 403, message: 'Cross-origin request refused' },
  csrf_token_invalid: { status: 403, message: 'The form is stale or was not sent by this site; reload the page and try again' },
  username_taken: { status: 409, message: 'This user name is taken' },
  not_found: { status: 404, message: 'No such route' },
  order_not_found: { status: 404, message: 'Order not found' },
  account_not_found: { status: 404, message: 'This user has no account; create it with POST /api/payments/account' },
  request_timeout: { status: 408, message: 'The request body did not arrive in time' },
  payload_too_large: { status: 413, message: 'The request body is larger than 16 KiB' },
  rate_limited: { status: 429, message: 'Too many requests; retry after the time in Retry-After' },
  idempotency_key_in_flight: { status: 409, message: 'A request with this Idempotency-Key is still being processed; retry shortly' },
  idempotency_claim_lost: {
    status: 409,
    message: 'This request took too long and was undone (nothing of it was kept); retry with the same Idempotency-Key to get the outcome',
  },
  unsupported_media_type: { status: 415, message: 'Send the request body as application/json' },
  validation_failed: { status: 422, message: 'The request is not valid' },
  invalid_cursor: { status: 422, message: 'The cursor is malformed; use the nextCursor of a previous page' },
  idempotency_key_reused: { status: 422, message: 'This Idempotency-Key was used with a different request' },
  balance_limit_exceeded: { status: 422, message: 'This top-up would take the balance past the maximum of 10^15 minor units' },
  internal_error: { status: 500, message: 'Something went wrong on our side' },
  upstream_unavailable: {
    status: 502,
    message:
      'A backing service could not be reached or dropped the connection. A read can simply be retried; a POST may still take effect: retry it with the same Idempotency-Key to learn its outcome',
  },
  upstream_timeout: {
    status: 504,
    message:
      'A backing service did not answer in time. A read can simply be retried; a POST may still take effect: retry it with the same Idempotency-Key to learn its outcome',
  },
  service_unavailable: { status: 503, message: 'A dependency of this service is unavailable' },
} as const satisfies Record<string, { status: number; message: string }>

export type ErrorCode = keyof typeof ERRORS

export type ErrorBody = { error: ErrorCode; message: string; details?: unknown }

export class AppError extends Error {
  readonly status: number
  constructor(
    readonly code: ErrorCode,
    readonly details?: unknown,
  ) {
    super(ERRORS[code].message)
    this.name = 'AppError'
    this.status = ERRORS[code].status
  }

  toBody(): ErrorBody {
    return this.details === undefined ? { error: this.code, message: this.message } : { error: this.code, message: this.message, details: this.details }
  }
}

export function errorResponse(code: ErrorCode, details?: unknown): Response {
  const error = new AppError(code, details)
  return Response.json(error.toBody(), { status: error.status })
}

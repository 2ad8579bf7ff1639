// What the gateway's page routes share: reading form fields, telling htmx
// requests from plain ones, redirecting either kind, and refusing a form.
import { Elysia } from 'elysia'
import { AppError, ERRORS, type ErrorBody } from '../shared/errors'
import { parseFormWithin } from '../shared/http/json-body'
import { type FormIntent, pressingAgainIsSafe } from '../views/form-fields'
import { type Html, html, htmlResponse } from '../views/html'
import { errorPage } from '../views/layout'

export type FormBody = Record<string, unknown> | undefined

export const isHtmx = (request: Request) => request.headers.get('hx-request') === 'true'

export const field = (body: unknown, name: string): string => {
  const value = (body as FormBody)?.[name]
  return typeof value === 'string' ? value : ''
}

/** Where to go next: a 303 for a plain form post, HX-Redirect for htmx. */
export function goTo(request: Request, location: string, headers: HeadersInit = {}): Response {
  const all = new Headers(headers)
  all.set(isHtmx(request) ? 'hx-redirect' : 'location', location)
  return new Response(null, { status: isHtmx(request) ? 200 : 303, headers: all })
}

/**
 * The pages' form bodies, read within BODY_TIMEOUT_MS (a body that trickles
 * in gets 408); use it in each plugin with POST routes. The pages' forms are
 * urlencoded: any other body is 415 (rather than read by a parser with no deadline).
 */
export function formBodies(bodyTimeoutMs: number) {
  return new Elysia({ name: 'gateway.form-bodies', seed: bodyTimeoutMs }).onParse({ as: 'scoped' }, ({ request, contentType }) => {
    const type = contentType.trim().toLowerCase()
    if (type === '') return undefined // no body
    if (type === 'application/x-www-form-urlencoded') return parseFormWithin(request, bodyTimeoutMs)
    throw new AppError('unsupported_media_type')
  })
}

/** The form field (and query parameter) that carries where to go after signing in. */
export const NEXT_FIELD = 'next'

/**
 * Where to go after signing in, if `value` is a page of this shop: a path of
 * its own ("/orders/…", with its query), never another site ("//evil.example",
 * "/\\evil.example", "https://…"), a control character, or the sign-in forms
 * themselves. Anything else is undefined, and the shopper lands on /orders.
 */
export function safeNext(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > 512 || !value.startsWith('/') || value.startsWith('//') || value.includes('\\')) return undefined
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(value)) return undefined
  const base = 'http://gozon.invalid'
  const url = URL.canParse(value, base) ? new URL(value, base) : undefined
  if (!url || url.origin !== base || ['/sign-in', '/sign-up', '/sign-out'].includes(url.pathname)) return undefined
  // What the parser made of it is what the browser will follow: "/.//evil.example" becomes "//evil.example".
  const next = url.pathname + url.search
  return next.startsWith('//') || next.includes('\\') ? undefined : next
}

/** Sign in first: a page asked for by a browser (GET, not an htmx fragment) is where the shopper lands afterwards. */
export function signInFirst(request: Request): Response {
  const url = new URL(request.url)
  const next = request.method === 'GET' && !isHtmx(request) && url.pathname !== '/' ? safeNext(url.pathname + url.search) : undefined
  return goTo(request, next ? `/sign-in?${new URLSearchParams({ [NEXT_FIELD]: next })}` : '/sign-in')
}

/** A form answered by the same markup whether it came through htmx (fragment) or not (full page). */
export function formResponse(request: Request, fragment: Html, page: () => Html, status: number, headers?: Record<string, string>): Response {
  return htmlResponse(isHtmx(request) ? fragment : page(), { status, headers })
}

/** A refused form (403): an alert for htmx to show, a page otherwise. */
export function refusedForm(request: Request, code: 'cross_origin_request' | 'csrf_token_invalid'): Response {
  const message = ERRORS[code].message
  return formResponse(request, html`<p class="alert" role="alert">${message}</p>`, () => errorPage({ title: 'Request refused', message }), 403)
}

/**
 * What the answer to a money form's submission (an order, a top-up) tells
 * the shopper, as far as the gateway can know it:
 * - `done`: it succeeded;
 * - `refused`: the service definitively refused it (a 4xx such as 422
 *   balance_limit_exceeded; refusals are stored under the key and replayed);
 * - `unknown`: no answer (timeout, network error), a 5xx, or a claim lost to
 *   a retry under the same key: it may have been done, or may still be done;
 * - `in_flight`: the first submission under this key is still running (409);
 * - `reused`: this key was used with other values (422), so the shopper
 *   changed the form after an unknown outcome, which may have gone through.
 */
export type Outcome = 'done' | 'refused' | 'unknown' | 'in_flight' | 'reused'

export function outcomeOf(result: { ok: boolean; status: number; error?: ErrorBody }): Outcome {
  if (result.ok) return 'done'
  // A claim lost to a retry (409 idempotency_claim_lost): this request was undone, the retry's outcome is not known here.
  if (!result.error || result.status >= 500 || result.error.error === 'idempotency_claim_lost') return 'unknown'
  if (result.error.error === 'idempotency_key_in_flight') return 'in_flight'
  if (result.error.error === 'idempotency_key_reused') return 'reused'
  return 'refused'
}

/**
 * The Idempotency-Key the re-rendered form carries. The key belongs to the
 * shopper's intent: while the outcome of the submission is open (unknown, in
 * flight, or `not_sent` because the gateway's own field check refused it and
 * the outcome of any earlier press is still what it was), the form keeps the
 * submitted key, so pressing again replays or completes that one request and
 * never makes a second. A definitive answer starts a new intent: undefined,
 * a fresh key.
 */
export function keyAfter(outcome: Outcome | 'not_sent', submittedKey: string | undefined): string | undefined {
  if (outcome === 'not_sent' || outcome === 'unknown' || outcome === 'in_flight') return submittedKey
  return undefined
}

/**
 * The message next to a form after an answer that was not a success. After
 * an unknown outcome it never claims that nothing changed: it says the
 * outcome is not known yet and that pressing again is safe.
 */
export function outcomeMessage(
  intent: FormIntent,
  result: { status: number; error?: ErrorBody; unanswered?: 'timeout' | 'unreachable' },
  refusal: (error: ErrorBody) => string = (error) => error.message,
): string {
  const again = pressingAgainIsSafe(intent)
  switch (outcomeOf({ ok: false, ...result })) {
    case 'unknown': {
      const why = result.error
        ? `the ${intent.service} service reported a problem (${result.error.message})`
        : result.unanswered === 'timeout'
          ? `the ${intent.service} service did not answer in time`
          : `the ${intent.service} service could not be reached`
      return `We could not confirm your ${intent.noun} yet: ${why}. ${again}`
    }
    case 'in_flight':
      return `Your ${intent.noun} is still being processed. Press “${intent.button}” again in a moment: it is safe, it will not ${intent.notTwice}.`
    case 'reused':
      return `Your earlier ${intent.noun}, with the values sent before, may have gone through: check ${intent.where} before submitting again.`
    default:
      return result.error ? refusal(result.error) : `The ${intent.service} service refused this ${intent.noun}.`
  }
}

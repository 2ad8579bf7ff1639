// What the gateway's page routes share: reading form fields, telling htmx
// requests from plain ones, redirecting either kind, and refusing a form.
import { ERRORS } from '../shared/errors'
import { type Html, html, htmlResponse } from '../views/html'
import { errorPage } from '../views/layout'

export type FormBody = Record<string, unknown> | undefined

export const isHtmx = (request: Request) => request.headers.get('hx-request') === 'true'

export const field = (body: unknown, name: string): string => {
  const value = (body as FormBody)?.[name]
  return typeof value === 'string' ? value : ''
}

/** Where to go next: a 303 for a plain form post, HX-Redirect for htmx. */
export function goTo(request: Request, location: string, headers: Record<string, string> = {}): Response {
  if (isHtmx(request)) return new Response(null, { status: 200, headers: { 'hx-redirect': location, ...headers } })
  return new Response(null, { status: 303, headers: { location, ...headers } })
}

/** A form answered by the same markup whether it came through htmx (fragment) or not (full page). */
export function formResponse(request: Request, fragment: Html, page: () => Html, status: number): Response {
  return htmlResponse(isHtmx(request) ? fragment : page(), { status })
}

/** A refused form (403): an alert for htmx to show, a page otherwise. */
export function refusedForm(request: Request, code: 'cross_origin_request' | 'csrf_token_invalid'): Response {
  const message = ERRORS[code].message
  return formResponse(request, html`<p class="alert" role="alert">${message}</p>`, () => errorPage({ title: 'Request refused', message }), 403)
}

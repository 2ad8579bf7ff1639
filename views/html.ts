// HTML that escapes by default. Every value interpolated into html`...` is
// escaped unless it is itself Html (the output of html`...` or raw()), so
// user text such as a description of `<script>` renders as text.

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ESCAPES[c]!)
}

export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value
  }
}

type Interpolation = Html | string | number | bigint | boolean | null | undefined | readonly Interpolation[]

function render(value: Interpolation): string {
  if (value === null || value === undefined || value === false) return ''
  if (value instanceof Html) return value.value
  if (Array.isArray(value)) return value.map(render).join('')
  return escapeHtml(String(value))
}

export function html(strings: TemplateStringsArray, ...values: Interpolation[]): Html {
  let out = strings[0]!
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!
  return new Html(out)
}

/** Trusted markup, inserted as is. Never pass user input. */
export function raw(markup: string): Html {
  return new Html(markup)
}

/**
 * What every page and fragment of the gateway is sent with. Scripts, styles
 * and connections (the live WebSocket) from this origin only, and the pages
 * use no inline script or style, so an injected one would not run; no other
 * origin may frame a page (clickjacking); the browser takes the content type
 * as given; a link to another site does not carry the page's address; and no
 * page is stored, so Back after sign-out does not show the account.
 */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
}

export function htmlResponse(body: Html, init: { status?: number; headers?: Record<string, string> } = {}): Response {
  return new Response(body.value, { status: init.status ?? 200, headers: { ...PAGE_HEADERS, ...init.headers } })
}

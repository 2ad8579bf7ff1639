// The page shell: head with htmx and its WebSocket extension (served by the
// gateway from the installed htmx.org package), the top bar, and, for a
// signed-in shopper, the live socket that receives status fragments.
// htmx's settle delay is 0: its settle step copies `style` attributes onto
// swapped elements (for CSS transitions, which the shop does not use), and the
// pages' Content-Security-Policy refuses inline styles.

import { renderBalance } from './account'
import { csrfField } from './form-fields'
import { type Html, html } from './html'
import type { Currency } from './money'

export type Shopper = { username: string; csrf: string }

export type LayoutProps = {
  title: string
  active?: 'orders' | 'account' | 'operations'
  body: Html
  /** Extra query for the live socket (the detail page asks for its order). */
  liveQuery?: string
} & (
  | { shopper?: undefined }
  | {
      /** The signed-in shopper: the name shown, and the CSRF token of the sign-out form. */
      shopper: Shopper
      /** Minor units; null when the shopper has no account, undefined when it could not be read. */
      balance?: number | null
      /** The shop's currency, for the balance in the top bar. */
      currency: Currency
    }
)

export function layout(props: LayoutProps): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="htmx-config" content='{"defaultSettleDelay":0}'>
<title>${props.title} · Gozon</title>
<link rel="icon" href="/assets/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/assets/styles.css">
<script src="/assets/htmx.min.js"></script>
<script src="/assets/hx-ws.min.js"></script>
<script src="/assets/page.js"></script>
</head>
<body>
<header class="top">
  <a class="brand" href="/">Gozon</a>
  ${
    props.shopper
      ? html`<nav>
    <a href="/orders" ${props.active === 'orders' ? html`aria-current="page"` : ''}>Orders</a>
    <a href="/account" ${props.active === 'account' ? html`aria-current="page"` : ''}>Account</a>
    <a href="/operations" ${props.active === 'operations' ? html`aria-current="page"` : ''}>Operations</a>
  </nav>
  <div class="who">
    ${renderBalance(props.balance, props.currency)}
    <span class="user" id="current-user">${props.shopper.username}</span>
    <form method="post" action="/sign-out" class="inline">${csrfField(props.shopper.csrf)}<button type="submit" class="link">Sign out</button></form>
  </div>`
      : ''
  }
</header>
<main>
${props.body}
</main>
${props.shopper ? html`<div id="live" hx-ws:connect="/ws${props.liveQuery ? `?${props.liveQuery}` : ''}" hx-swap="none" hidden></div>` : ''}
</body>
</html>`
}

export function errorPage(props: { title: string; message: string } & ({ shopper?: undefined } | { shopper: Shopper; currency: Currency })): Html {
  const body = html`<section class="card"><h1>${props.title}</h1><p>${props.message}</p><p><a href="/orders">Back to your orders</a></p></section>`
  return layout(props.shopper ? { title: props.title, shopper: props.shopper, currency: props.currency, body } : { title: props.title, body })
}

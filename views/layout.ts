// The page shell: head with htmx and its WebSocket extension (served by the
// gateway from the installed htmx.org package), the top bar, and, for a
// signed-in shopper, the live socket that receives status fragments.
import { type Html, html } from './html'
import { renderBalance } from './account'

export type LayoutProps = {
  title: string
  userId?: string
  /** Minor units; null when the shopper has no account, undefined when it could not be read. */
  balance?: number | null
  active?: 'orders' | 'account' | 'operations'
  body: Html
  /** Extra query for the live socket (the detail page asks for its order). */
  liveQuery?: string
}

export function layout(props: LayoutProps): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${props.title} · Gozon</title>
<link rel="stylesheet" href="/assets/styles.css">
<script src="/assets/htmx.min.js"></script>
<script src="/assets/hx-ws.min.js"></script>
</head>
<body>
<header class="top">
  <a class="brand" href="/">Gozon</a>
  ${
    props.userId
      ? html`<nav>
    <a href="/orders" ${props.active === 'orders' ? html`aria-current="page"` : ''}>Orders</a>
    <a href="/account" ${props.active === 'account' ? html`aria-current="page"` : ''}>Account</a>
    <a href="/operations" ${props.active === 'operations' ? html`aria-current="page"` : ''}>Operations</a>
  </nav>
  <div class="who">
    ${renderBalance(props.balance)}
    <span class="user" id="current-user">${props.userId}</span>
    <form method="post" action="/sign-out" class="inline"><button type="submit" class="link">Sign out</button></form>
  </div>`
      : ''
  }
</header>
<main>
${props.body}
</main>
${props.userId ? html`<div id="live" hx-ws:connect="/ws${props.liveQuery ? `?${props.liveQuery}` : ''}" hx-swap="none" hidden></div>` : ''}
</body>
</html>`
}

export function errorPage(props: { userId?: string; title: string; message: string }): Html {
  return layout({
    title: props.title,
    userId: props.userId,
    body: html`<section class="card"><h1>${props.title}</h1><p>${props.message}</p><p><a href="/orders">Back to your orders</a></p></section>`,
  })
}

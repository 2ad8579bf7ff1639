// Order fragments. renderOrder is the one render function of an order: the
// list, the detail page and the live push all use it, under the stable id
// `order-<id>`, so a pushed fragment replaces it out of band wherever it is.

import type { OrderView } from '../shared/api-types'
import { csrfField, type FormState, idempotencyKeyField, ORDER_INTENT, unansweredAttr } from './form-fields'
import { type Html, html } from './html'
import type { Currency } from './money'
import { renderTime } from './time'

/** An order as the API returns it (the user id is not needed to show it). */
export type Order = Omit<OrderView, 'userId'>

/** How often a row added by a form reads itself again while that read fails. */
const ROW_RETRY_SECONDS = 3

const STATUS_LABEL = { NEW: 'Paying…', FINISHED: 'Paid', CANCELLED: 'Cancelled' } as const
const REASON_TEXT = {
  insufficient_funds: 'Not enough money in the account.',
  account_not_found: 'No account to pay from: open one on the Account page.',
} as const

export const orderElementId = (orderId: string) => `order-${orderId}`

export function renderStatusBadge(order: Pick<Order, 'status'>): Html {
  return html`<span class="badge badge-${order.status.toLowerCase()}" data-status="${order.status}">${STATUS_LABEL[order.status]}</span>`
}

/**
 * `oob`: swap it in place of the element with the same id (pushes).
 * `refresh`: once inserted, fetch the row again. A row added by a form's
 * response may have missed a push that arrived before it was in the page;
 * reading it after insertion cannot miss the change (final states are final).
 * A read that fails is answered 204 (htmx keeps the row) and tried again
 * every few seconds until one succeeds.
 */
export function renderOrder(order: Order, currency: Currency, options: { oob?: boolean; refresh?: boolean } = {}): Html {
  const refresh = options.refresh && order.status === 'NEW'
  return html`<li id="${orderElementId(order.id)}" class="order" data-status="${order.status}"${options.oob ? html` hx-swap-oob="true"` : ''}${
    refresh ? html` hx-get="/orders/${order.id}/row" hx-trigger="load, every ${ROW_RETRY_SECONDS}s" hx-swap="outerHTML"` : ''
  }>
  <a class="order-main" href="/orders/${order.id}">
    <span class="amount">${currency.format(order.amount)}</span>
    <span class="description">${order.description ?? 'No description'}</span>
  </a>
  ${renderStatusBadge(order)}
  ${order.reason ? html`<p class="reason">${REASON_TEXT[order.reason]}</p>` : ''}
  ${renderTime(order.createdAt, 'when')}
</li>`
}

/** `oob`: the list alone, to replace the one in the page out of band (its placeholder stays). */
export function renderOrderList(orders: Order[], currency: Currency, options: { oob?: boolean } = {}): Html {
  const list = html`<ul id="order-list" class="orders"${options.oob ? html` hx-swap-oob="true"` : ''}>${orders.map((o) => renderOrder(o, currency))}</ul>`
  if (options.oob) return list
  // The placeholder sits after the list and hides itself (CSS) once an order is in it.
  return html`${list}
<p id="no-orders" class="muted">No orders yet.</p>`
}

export function renderOrderForm(csrf: string, currency: Currency, state: FormState = {}): Html {
  const errors = state.errors ?? {}
  return html`<form id="order-form" class="stack card" method="post" action="/orders"
      hx-post="/orders" hx-target="this" hx-swap="outerHTML" hx-disable="find button"${unansweredAttr(ORDER_INTENT)}>
  <h2>New order</h2>
  ${csrfField(csrf)}
  ${idempotencyKeyField(state.idempotencyKey)}
  ${state.message ? html`<p class="alert" role="alert">${state.message}</p>` : ''}
  <label for="order-amount">Amount (${currency.code})</label>
  <input id="order-amount" name="amount" inputmode="decimal" autocomplete="off" placeholder="12.50"
    value="${state.values?.amount ?? ''}" ${errors.amount ? html`aria-invalid="true" aria-describedby="order-amount-error"` : ''} required>
  ${errors.amount ? html`<p class="field-error" id="order-amount-error">${errors.amount}</p>` : ''}
  <label for="order-description">Description <span class="muted">(optional)</span></label>
  <input id="order-description" name="description" autocomplete="off" placeholder="What is it for?"
    value="${state.values?.description ?? ''}" ${errors.description ? html`aria-invalid="true" aria-describedby="order-description-error"` : ''}>
  ${errors.description ? html`<p class="field-error" id="order-description-error">${errors.description}</p>` : ''}
  <button type="submit">Place order</button>
</form>`
}

/** After a successful htmx submit: a fresh form, and the new order at the top of the list. */
export function renderOrderCreated(order: Order, csrf: string, currency: Currency): Html {
  return html`${renderOrderForm(csrf, currency)}
<ul hx-swap-oob="afterbegin:#order-list">${renderOrder(order, currency, { refresh: true })}</ul>`
}

/** How many orders a page shows, and "Show more" brings. */
export const ORDERS_PER_PAGE = 50

/**
 * "Show more": a link to the next page of older orders, which works without
 * JavaScript; with htmx it fetches /orders/more, which appends those rows to
 * the list and puts the next link in its place. None when there are no more.
 */
export function renderMoreOrders(nextCursor: string | null, message?: string): Html {
  if (!nextCursor) return html`<p id="more-orders" hidden></p>`
  const query = new URLSearchParams({ cursor: nextCursor })
  return html`<p id="more-orders" class="more">${message ? html`<span class="alert" role="alert">${message}</span> ` : ''}<a href="/orders?${query.toString()}"
    hx-get="/orders/more?${query.toString()}" hx-target="#more-orders" hx-swap="outerHTML">Show more</a></p>`
}

/** The next rows, appended to the page's list, and the next "Show more" in place of the one pressed. */
export function renderMoreOrdersFragment(orders: Order[], nextCursor: string | null, currency: Currency): Html {
  return html`${renderMoreOrders(nextCursor)}
<ul hx-swap-oob="beforeend:#order-list">${orders.map((o) => renderOrder(o, currency))}</ul>`
}

export function renderOrdersPage(props: {
  orders: Order[]
  nextCursor: string | null
  laterPage: boolean
  csrf: string
  currency: Currency
  form?: FormState
}): Html {
  return html`<div class="columns">
  ${renderOrderForm(props.csrf, props.currency, props.form)}
  <section class="card">
    <h1>Your orders</h1>
    ${props.laterPage ? html`<p><a href="/orders">← Newest orders</a></p>` : ''}
    ${renderOrderList(props.orders, props.currency)}
    ${renderMoreOrders(props.nextCursor)}
  </section>
</div>`
}

export function renderOrderDetail(order: Order, currency: Currency): Html {
  return html`<section class="card">
  <p><a href="/orders">← All orders</a></p>
  <h1>Order</h1>
  <ul class="orders">${renderOrder(order, currency)}</ul>
  <dl class="facts">
    <dt>Order id</dt><dd><code>${order.id}</code></dd>
    <dt>Placed</dt><dd>${renderTime(order.createdAt)}</dd>
    ${order.status !== 'NEW' ? html`<dt>${order.status === 'FINISHED' ? 'Paid' : 'Cancelled'}</dt><dd>${renderTime(order.updatedAt)}</dd>` : ''}
  </dl>
</section>`
}

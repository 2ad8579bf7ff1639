// Account fragments: balance (in the top bar), the account panel with the
// top-up form, and the statement. Each has a stable id so that the same
// function renders it in the page and in a push.

import type { LedgerEntryView } from '../shared/api-types'
import { csrfField, type FormState, idempotencyKeyField, TOP_UP_INTENT, unansweredAttr } from './form-fields'
import { type Html, html } from './html'
import type { Currency } from './money'
import { renderTime } from './time'

export type { FormState }

export type LedgerEntry = LedgerEntryView

const oobAttr = (oob: boolean) => (oob ? html` hx-swap-oob="true"` : '')

/** `balance`: minor units; null: no account yet; undefined: could not be read just now. */
export function renderBalance(balance: number | null | undefined, currency: Currency, options: { oob?: boolean } = {}): Html {
  if (balance === undefined) return html`<span id="balance" class="balance muted"${oobAttr(options.oob ?? false)}>Balance unavailable</span>`
  if (balance === null) return html`<a id="balance" class="balance muted" href="/account"${oobAttr(options.oob ?? false)}>No account yet</a>`
  return html`<span id="balance" class="balance"${oobAttr(options.oob ?? false)} data-minor="${balance}">Balance <strong>${currency.format(balance)}</strong></span>`
}

export function renderTopUpForm(csrf: string, currency: Currency, state: FormState = {}): Html {
  const error = state.errors?.amount
  return html`<form id="top-up-form" class="stack" method="post" action="/account/top-up"
      hx-post="/account/top-up" hx-target="#account-panel" hx-swap="outerHTML" hx-disable="find button"${unansweredAttr(TOP_UP_INTENT)}>
  ${state.message ? html`<p class="alert" role="alert">${state.message}</p>` : ''}
  ${state.confirmation ? html`<p class="notice" role="status">${state.confirmation}</p>` : ''}
  ${csrfField(csrf)}
  ${idempotencyKeyField(state.idempotencyKey)}
  <label for="top-up-amount">Top up (${currency.code})</label>
  <div class="row">
    <input id="top-up-amount" name="amount" inputmode="decimal" autocomplete="off" placeholder="25.00"
      value="${state.values?.amount ?? ''}" ${error ? html`aria-invalid="true" aria-describedby="top-up-amount-error"` : ''} required>
    <button type="submit">Add money</button>
  </div>
  ${error ? html`<p class="field-error" id="top-up-amount-error">${error}</p>` : ''}
</form>`
}

/** How many statement lines a page shows, and "Show more" brings. */
export const ENTRIES_PER_PAGE = 50

function renderEntry(e: LedgerEntry, currency: Currency): Html {
  return html`<tr id="entry-${e.id}">
    <td>${renderTime(e.createdAt)}</td>
    <td>${e.kind === 'top_up' ? 'Top-up' : html`Payment for <a href="/orders/${e.orderId ?? ''}">order ${(e.orderId ?? '').slice(-8)}</a>`}</td>
    <td class="num ${e.kind === 'payment' ? 'debit' : 'credit'}">${e.kind === 'payment' ? '−' : '+'}${currency.format(e.amount)}</td>
    <td class="num">${currency.format(e.balanceAfter)}</td>
  </tr>`
}

/** "Show more" of the statement: older lines than `before` (an entry id); a link without JavaScript, appended in place with htmx. */
export function renderMoreEntries(before: number | undefined, message?: string): Html {
  if (before === undefined) return html`<p id="more-entries" hidden></p>`
  return html`<p id="more-entries" class="more">${message ? html`<span class="alert" role="alert">${message}</span> ` : ''}<a href="/account?before=${before}"
    hx-get="/account/statement/more?before=${before}" hx-target="#more-entries" hx-swap="outerHTML">Show more</a></p>`
}

/**
 * The next lines, appended to the statement as a table body of their own (a
 * table may have several; rows alone would not survive HTML parsing outside
 * a table), and the next "Show more" in place of the one pressed.
 */
export function renderMoreEntriesFragment(entries: LedgerEntry[], before: number | undefined, currency: Currency): Html {
  return html`${renderMoreEntries(before)}
<table hx-swap-oob="beforeend:#statement"><tbody>${entries.map((e) => renderEntry(e, currency))}</tbody></table>`
}

/** `before`: where the next page of older lines starts, if there is one. */
export function renderStatement(entries: LedgerEntry[], currency: Currency, before?: number): Html {
  if (entries.length === 0) return html`<p id="statement" class="muted">No transactions yet.</p>`
  return html`<table id="statement" class="statement">
  <thead><tr><th>When</th><th>What</th><th class="num">Amount</th><th class="num">Balance</th></tr></thead>
  <tbody>
  ${entries.map((e) => renderEntry(e, currency))}
  </tbody>
</table>
${renderMoreEntries(before)}`
}

export type AccountPanelProps =
  | { state: 'missing'; csrf: string; message?: string }
  /** `statement`: undefined when it could not be read (said so, never shown as empty). */
  | {
      state: 'open'
      csrf: string
      currency: Currency
      balance: number
      statement: LedgerEntry[] | undefined
      moreBefore?: number
      laterPage?: boolean
      form?: FormState
    }
  /** Payments did not answer: its message, and the top-up form again if a top-up is what could not be confirmed. */
  | { state: 'unavailable'; csrf: string; currency: Currency; message: string; form?: FormState }

/** A read that failed: what happened, and a way to ask again (reading changes nothing). */
export function readFailure(message: string, retry: string): Html {
  return html`<p class="alert" role="alert">${message} <a href="${retry}">Try again</a></p>`
}

export function renderAccountPanel(props: AccountPanelProps): Html {
  if (props.state === 'unavailable') {
    return html`<section id="account-panel" class="card">
  <h1>Your account</h1>
  ${props.form?.message ? '' : readFailure(props.message, '/account')}
  ${props.form ? renderTopUpForm(props.csrf, props.currency, props.form) : ''}
</section>`
  }
  if (props.state === 'missing') {
    return html`<section id="account-panel" class="card">
  <h1>Your account</h1>
  ${props.message ? html`<p class="alert" role="alert">${props.message}</p>` : ''}
  <p>You have no account yet. Open one to pay for orders.</p>
  <form method="post" action="/account" hx-post="/account" hx-target="#account-panel" hx-swap="outerHTML">
    ${csrfField(props.csrf)}
    <button type="submit" id="open-account">Open account</button>
  </form>
</section>`
  }
  return html`<section id="account-panel" class="card">
  <h1>Your account</h1>
  <p class="big-balance">Balance <strong id="account-balance">${props.currency.format(props.balance)}</strong></p>
  ${renderTopUpForm(props.csrf, props.currency, props.form)}
  <h2>Statement</h2>
  ${props.laterPage ? html`<p><a href="/account">← Newest lines</a></p>` : ''}
  ${props.statement ? renderStatement(props.statement, props.currency, props.moreBefore) : readFailure('The statement could not be loaded just now.', '/account')}
</section>`
}

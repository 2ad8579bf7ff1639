// Hidden fields every state-changing form carries.
import { type Html, html } from './html'

export type FormState = {
  values?: Record<string, string>
  errors?: Record<string, string>
  message?: string
  /** What was just done, said as a confirmation (not an alert). */
  confirmation?: string
  /** The Idempotency-Key to render: the submitted one while its outcome is open (gateway/forms.ts keyAfter); none for a fresh one. */
  idempotencyKey?: string
}

/** The form field the gateway checks on every signed-in POST (gateway/auth/tokens.ts csrfToken). */
export const CSRF_FIELD = 'csrfToken'

export function csrfField(token: string): Html {
  return html`<input type="hidden" name="${CSRF_FIELD}" value="${token}">`
}

/** The hidden field of a money form's Idempotency-Key. */
export const IDEMPOTENCY_FIELD = 'idempotencyKey'

/**
 * A money form's Idempotency-Key: it belongs to the shopper's intent, not to
 * a render. A double click or a retried submit carries the same key, so the
 * API does the work once; a form re-rendered while the first submission's
 * outcome is unknown carries that same `key` again; a new intent (a fresh
 * form, or after a definitive answer) gets a new one.
 */
export function idempotencyKeyField(key?: string): Html {
  return html`<input type="hidden" name="${IDEMPOTENCY_FIELD}" value="${key ?? crypto.randomUUID()}">`
}

/** A labelled input with its error underneath, wired for screen readers. */
export function textField(props: {
  id: string
  name: string
  label: string
  type?: 'text' | 'password'
  value?: string
  error?: string
  autocomplete: string
  maxlength: number
  autofocus?: boolean
}): Html {
  const errorId = `${props.id}-error`
  return html`<label for="${props.id}">${props.label}</label>
  <input id="${props.id}" name="${props.name}" type="${props.type ?? 'text'}" autocomplete="${props.autocomplete}" maxlength="${props.maxlength}"
    value="${props.value ?? ''}" ${props.error ? html`aria-invalid="true" aria-describedby="${errorId}"` : ''} required${props.autofocus ? html` autofocus` : ''}>
  ${props.error ? html`<p class="field-error" id="${errorId}">${props.error}</p>` : ''}`
}

/** How a form names what it does, for the messages after its submission. */
export type FormIntent = {
  service: 'orders' | 'payments'
  /** "order", "top-up". */
  noun: string
  button: string
  /** What pressing again will not do: "order or pay twice". */
  notTwice: string
  /** Where the shopper sees what went through: "your orders". */
  where: string
}

export const ORDER_INTENT: FormIntent = {
  service: 'orders',
  noun: 'order',
  button: 'Place order',
  notTwice: 'order or pay twice',
  where: 'your orders',
}

export const TOP_UP_INTENT: FormIntent = {
  service: 'payments',
  noun: 'top-up',
  button: 'Add money',
  notTwice: 'add the money twice',
  where: 'your statement',
}

/** What pressing a money form's button again will not do, said once for every message that needs it. */
export function pressingAgainIsSafe(intent: FormIntent): string {
  return `Pressing “${intent.button}” again is safe: it will not ${intent.notTwice}.`
}

/**
 * The message a money form shows when its answer is not a page of the shop
 * (the load balancer's own error page, a lost connection): views/page.js
 * keeps the form, with its Idempotency-Key, and shows this in it.
 */
export function unansweredAttr(intent: FormIntent): Html {
  return html` data-unanswered="We could not confirm your ${intent.noun} yet: the shop did not answer. ${pressingAgainIsSafe(intent)}"`
}

// Hidden fields every state-changing form carries.
import { type Html, html } from './html'

export type FormState = {
  values?: Record<string, string>
  errors?: Record<string, string>
  message?: string
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

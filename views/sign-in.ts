// The sign-in and sign-up forms. The password is never rendered back; a
// field's hint gives way to its error, which says the same more pointedly.
import { csrfField, type FormState, textField } from './form-fields'
import { type Html, html } from './html'

export type AuthFormKind = 'sign-in' | 'sign-up'

const TEXT = {
  'sign-in': { title: 'Sign in', button: 'Sign in', other: html`New here? <a href="/sign-up">Create an account</a>.`, password: 'current-password' },
  'sign-up': { title: 'Create an account', button: 'Create account', other: html`Have an account? <a href="/sign-in">Sign in</a>.`, password: 'new-password' },
} as const

export function renderAuthForm(kind: AuthFormKind, state: FormState = {}): Html {
  const text = TEXT[kind]
  const errors = state.errors ?? {}
  return html`<form id="${kind}-form" class="card stack narrow" method="post" action="/${kind}"
      hx-post="/${kind}" hx-target="this" hx-swap="outerHTML" hx-disable="find button">
  <h1>${text.title}</h1>
  ${state.message ? html`<p class="alert" role="alert">${state.message}</p>` : ''}
  ${state.confirmation ? html`<p class="notice" role="status">${state.confirmation}</p>` : ''}
  ${kind === 'sign-in' && state.values?.next ? html`<input type="hidden" name="next" value="${state.values.next}">` : ''}
  ${textField({ id: 'username', name: 'username', label: 'User name', value: state.values?.username, error: errors.username, autocomplete: 'username', maxlength: 32, autofocus: true })}
  ${kind === 'sign-up' && !errors.username ? html`<p class="muted">3–32 lower-case letters, digits, dots, dashes or underscores.</p>` : ''}
  ${textField({ id: 'password', name: 'password', label: 'Password', type: 'password', error: errors.password, autocomplete: text.password, maxlength: 128 })}
  ${kind === 'sign-up' && !errors.password ? html`<p class="muted">At least 8 characters.</p>` : ''}
  <button type="submit">${text.button}</button>
  <p class="muted">${text.other}</p>
</form>`
}

/** Ends every session of the shopper, on every browser and device (gateway/auth/sessions.ts). */
export function renderSessionsCard(csrf: string): Html {
  return html`<section class="card" id="sessions">
  <h2>Signed-in browsers</h2>
  <p class="muted">Signed in somewhere you no longer use, or on a shared computer? This signs you out on every browser and device, this one included.</p>
  <form method="post" action="/sign-out-everywhere">${csrfField(csrf)}<button type="submit">Sign out everywhere</button></form>
</section>`
}

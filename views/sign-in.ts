// The sign-in form: the shopper names the user id to act as.
import { type Html, html } from './html'

export function renderSignInForm(state: { value?: string; error?: string } = {}): Html {
  return html`<form id="sign-in-form" class="card stack narrow" method="post" action="/sign-in"
      hx-post="/sign-in" hx-target="this" hx-swap="outerHTML">
  <h1>Sign in</h1>
  <p class="muted">Pick a user id: 1–64 letters, digits, dots, dashes or underscores.</p>
  <label for="user-id">User id</label>
  <input id="user-id" name="userId" autocomplete="username" maxlength="64" value="${state.value ?? ''}"
    ${state.error ? html`aria-invalid="true" aria-describedby="user-id-error"` : ''} required autofocus>
  ${state.error ? html`<p class="field-error" id="user-id-error">${state.error}</p>` : ''}
  <button type="submit">Sign in</button>
</form>`
}

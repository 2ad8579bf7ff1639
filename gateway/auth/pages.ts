// Sign-up, sign-in and sign-out pages. Every page POST of the gateway passes
// formGuard first: refused when a browser says it comes from another site,
// and, for a signed-in shopper, unless it carries the session's CSRF token.
import { Elysia } from 'elysia'
import { CSRF_FIELD } from '../../views/form-fields'
import { layout } from '../../views/layout'
import { type AuthFormKind, renderAuthForm } from '../../views/sign-in'
import { field, formBodies, formResponse, goTo, NEXT_FIELD, refusedForm, safeNext } from '../forms'
import type { AttemptLimiters } from './attempts'
import type { Authenticator } from './authenticator'
import { isCrossOrigin } from './origin'
import { newCredentialsErrors, normalizeUsername, type UserStore } from './users'

/** Paths whose forms are posted before there is a session (their CSRF defence is the origin check alone). */
const SIGNED_OUT_FORMS = new Set(['/sign-in', '/sign-up'])

/** The CSRF and cross-origin check of every page form; use it in each plugin that has POST routes. */
export function formGuard(auth: Authenticator) {
  return new Elysia({ name: 'gateway.form-guard' }).onBeforeHandle({ as: 'scoped' }, async ({ request, body }) => {
    if (request.method !== 'POST') return
    if (isCrossOrigin(request)) return refusedForm(request, 'cross_origin_request')
    if (SIGNED_OUT_FORMS.has(new URL(request.url).pathname)) return
    const session = await auth.session(request)
    // Without a session the route itself sends the browser to sign in.
    if (session && !auth.tokens.checkCsrf(session, field(body, CSRF_FIELD))) return refusedForm(request, 'csrf_token_invalid')
  })
}

export function authPages(deps: { auth: Authenticator; users: UserStore; limits: AttemptLimiters; bodyTimeoutMs: number }) {
  const { auth, users, limits } = deps

  const formPage = (request: Request, kind: AuthFormKind, state: Parameters<typeof renderAuthForm>[1], status: number, headers?: Record<string, string>) => {
    const form = renderAuthForm(kind, state)
    return formResponse(request, form, () => layout({ title: kind === 'sign-in' ? 'Sign in' : 'Create an account', body: form }), status, headers)
  }

  /** The form again with "Too many attempts", 429 and Retry-After, when an attempt limit refused (gateway/auth/attempts.ts). */
  const limitedPage = (request: Request, kind: AuthFormKind, values: Record<string, string>, waitSeconds: number) => {
    const message = `Too many attempts. Try again in ${waitSeconds === 1 ? '1 second' : `${waitSeconds} seconds`}.`
    return formPage(request, kind, { values, message }, 429, { 'retry-after': String(waitSeconds) })
  }

  const showForm =
    (kind: AuthFormKind) =>
    async ({ request }: { request: Request }) => {
      const next = safeNext(new URL(request.url).searchParams.get(NEXT_FIELD))
      if (await auth.session(request)) return goTo(request, next ?? '/orders')
      const everywhere = kind === 'sign-in' && new URL(request.url).searchParams.get('signed-out') === 'everywhere'
      return formPage(
        request,
        kind,
        {
          values: next ? { [NEXT_FIELD]: next } : {},
          confirmation: everywhere
            ? 'You are signed out on every browser and device. (API tokens made with POST /api/auth/token stay valid until they expire, within the hour.)'
            : undefined,
        },
        200,
      )
    }

  return new Elysia({ name: 'gateway.auth-pages' })
    .use(formBodies(deps.bodyTimeoutMs))
    .use(formGuard(auth))
    .get('/sign-in', showForm('sign-in'))
    .get('/sign-up', showForm('sign-up'))
    .post('/sign-in', async ({ request, body, server }) => {
      const username = normalizeUsername(field(body, 'username'))
      const next = safeNext(field(body, NEXT_FIELD))
      const values = { username, ...(next ? { [NEXT_FIELD]: next } : {}) }
      const knownDevice = auth.knownDevice(request, username)
      const wait = await limits.signIn(limits.clientAddress(server, request), username, { knownDevice })
      if (wait !== undefined) return limitedPage(request, 'sign-in', values, wait)
      const user = await users.signIn(username, field(body, 'password'))
      if (!user) return formPage(request, 'sign-in', { values, message: 'Unknown user name or wrong password.' }, 401)
      return goTo(request, next ?? '/orders', await auth.signIn(user))
    })
    .post('/sign-up', async ({ request, body, server }) => {
      const username = normalizeUsername(field(body, 'username'))
      const password = field(body, 'password')
      const values = { username }
      const errors = newCredentialsErrors(username, password)
      if (Object.keys(errors).length > 0) return formPage(request, 'sign-up', { values, errors }, 422)
      const wait = await limits.signUp(limits.clientAddress(server, request))
      if (wait !== undefined) return limitedPage(request, 'sign-up', values, wait)
      const user = await users.signUp(username, password)
      if (user === 'taken') return formPage(request, 'sign-up', { values, errors: { username: 'This user name is taken.' } }, 409)
      return goTo(request, '/account', await auth.signIn(user))
    })
    .post('/sign-out', async ({ request }) => goTo(request, '/sign-in', { 'set-cookie': await auth.signOut(request) }))
    .post('/sign-out-everywhere', async ({ request }) =>
      goTo(request, '/sign-in?signed-out=everywhere', { 'set-cookie': await auth.signOutEverywhere(request) }),
    )
}

// The shopper's pages. Each form works two ways: as an htmx request (answered
// with the fragment to swap) and as a plain POST (answered with a redirect, or
// the whole page with the errors when JavaScript is off).
import { Elysia } from 'elysia'
import { isValidUserId } from '../shared/identity'
import type { ErrorBody } from '../shared/errors'
import { type FormState, renderAccountPanel, renderBalance } from '../views/account'
import { type Html, html, htmlResponse } from '../views/html'
import { errorPage, layout } from '../views/layout'
import { parseMoney } from '../views/money'
import { renderOrder, renderOrderCreated, renderOrderDetail, renderOrderForm, renderOrdersPage } from '../views/orders'
import { renderOperations } from '../views/operations'
import { renderSignInForm } from '../views/sign-in'
import type { ServiceClient } from './service-client'
import { sessionUser, signInCookie, signOutCookie } from './web-session'

type FormBody = Record<string, unknown> | undefined

const isHtmx = (request: Request) => request.headers.get('hx-request') === 'true'
const field = (body: FormBody, name: string) => (typeof body?.[name] === 'string' ? (body[name] as string) : '')
/** The form's Idempotency-Key (views/account.ts idempotencyKeyField), if it carries a usable one. */
const formKey = (body: FormBody) => {
  const key = field(body, 'idempotencyKey')
  return /^[\x20-\x7E]{1,255}$/.test(key) ? key : undefined
}

/** Where to go next: a 303 for a plain form post, HX-Redirect for htmx. */
function goTo(request: Request, location: string, headers: Record<string, string> = {}): Response {
  if (isHtmx(request)) return new Response(null, { status: 200, headers: { 'hx-redirect': location, ...headers } })
  return new Response(null, { status: 303, headers: { location, ...headers } })
}

function serviceMessage(error: ErrorBody | undefined, what: string): string {
  if (!error) return `The ${what} service did not answer. Nothing was changed; please try again.`
  return error.message
}

export function pages(deps: { client: ServiceClient }) {
  const { client } = deps

  async function ordersPage(userId: string, form?: FormState, status = 200): Promise<Response> {
    const [list, balance] = await Promise.all([client.listOrders(userId, { limit: 50 }), client.balance(userId)])
    const body = list.ok
      ? renderOrdersPage({ orders: list.body.items, form })
      : html`${renderOrderForm(form)}<p class="alert" role="alert">${serviceMessage(list.error, 'orders')}</p>`
    return htmlResponse(layout({ title: 'Orders', userId, balance, active: 'orders', body }), { status })
  }

  async function accountPanel(userId: string, form?: FormState): Promise<{ panel: Html; balance: number | null | undefined; status: number }> {
    const [account, statement] = await Promise.all([client.getAccount(userId), client.statement(userId)])
    if (account.ok) {
      return {
        panel: renderAccountPanel({ state: 'open', balance: account.body.balance, statement: statement.ok ? statement.body : [], form }),
        balance: account.body.balance,
        status: 200,
      }
    }
    if (account.status === 404) return { panel: renderAccountPanel({ state: 'missing' }), balance: null, status: 200 }
    return {
      panel: renderAccountPanel({ state: 'missing', message: serviceMessage(account.error, 'payments') }),
      balance: undefined,
      status: 502,
    }
  }

  async function accountPage(userId: string, form?: FormState, status?: number): Promise<Response> {
    const { panel, balance, status: panelStatus } = await accountPanel(userId, form)
    return htmlResponse(layout({ title: 'Account', userId, balance, active: 'account', body: panel }), {
      status: status ?? panelStatus,
    })
  }

  return new Elysia({ name: 'gateway.pages' })
    .get('/', ({ request }) => goTo(request, sessionUser(request) ? '/orders' : '/sign-in'))
    .get('/sign-in', ({ request }) =>
      sessionUser(request) ? goTo(request, '/orders') : htmlResponse(layout({ title: 'Sign in', body: renderSignInForm() })),
    )
    .post('/sign-in', ({ request, body }) => {
      const userId = field(body as FormBody, 'userId').trim()
      if (!isValidUserId(userId)) {
        const form = renderSignInForm({ value: userId, error: 'Use 1–64 letters, digits, dots, dashes or underscores.' })
        return htmlResponse(isHtmx(request) ? form : layout({ title: 'Sign in', body: form }), { status: 422 })
      }
      return goTo(request, '/orders', { 'set-cookie': signInCookie(userId) })
    })
    .post('/sign-out', ({ request }) => goTo(request, '/sign-in', { 'set-cookie': signOutCookie() }))
    .get('/orders', ({ request }) => {
      const userId = sessionUser(request)
      return userId ? ordersPage(userId) : goTo(request, '/sign-in')
    })
    .post('/orders', async ({ request, body }) => {
      const userId = sessionUser(request)
      if (!userId) return goTo(request, '/sign-in')
      const values = { amount: field(body as FormBody, 'amount'), description: field(body as FormBody, 'description').trim() }
      const errors: Record<string, string> = {}
      const amount = parseMoney(values.amount)
      if (!amount.ok) errors.amount = amount.error
      if (values.description.length > 200) errors.description = 'At most 200 characters.'
      if (values.description.includes('\u0000')) errors.description = 'The description contains a character that is not allowed.'
      let form: FormState | undefined
      let status = 422
      if (amount.ok && Object.keys(errors).length === 0) {
        const created = await client.createOrder(
          userId,
          { amount: amount.minor, description: values.description || undefined },
          formKey(body as FormBody),
        )
        if (created.ok) {
          return isHtmx(request) ? htmlResponse(renderOrderCreated(created.body)) : goTo(request, '/orders')
        }
        status = created.status
        form = { values, message: serviceMessage(created.error, 'orders') }
      } else {
        form = { values, errors }
      }
      return isHtmx(request) ? htmlResponse(renderOrderForm(form), { status }) : ordersPage(userId, form, status)
    })
    .get('/orders/:id', async ({ request, params }) => {
      const userId = sessionUser(request)
      if (!userId) return goTo(request, '/sign-in')
      const [order, balance] = await Promise.all([client.getOrder(userId, params.id), client.balance(userId)])
      if (!order.ok) {
        const notFound = order.status === 404
        return htmlResponse(
          errorPage({
            userId,
            title: notFound ? 'Order not found' : 'Orders unavailable',
            message: notFound ? 'There is no such order among yours.' : serviceMessage(order.error, 'orders'),
          }),
          { status: notFound ? 404 : 502 },
        )
      }
      const body = renderOrderDetail(order.body)
      return htmlResponse(layout({ title: 'Order', userId, balance, active: 'orders', body, liveQuery: `order=${order.body.id}` }))
    })
    .get('/orders/:id/row', async ({ request, params }) => {
      const userId = sessionUser(request)
      if (!userId) return goTo(request, '/sign-in')
      const order = await client.getOrder(userId, params.id)
      if (!order.ok) return htmlResponse(html``, { status: order.status })
      return htmlResponse(renderOrder(order.body))
    })
    .get('/operations', async ({ request }) => {
      const userId = sessionUser(request)
      if (!userId) return goTo(request, '/sign-in')
      const [orders, payments, balance] = await Promise.all([
        client.operations(userId, 'orders'),
        client.operations(userId, 'payments'),
        client.balance(userId),
      ])
      const body = renderOperations({ orders: orders.ok ? orders.body : undefined, payments: payments.ok ? payments.body : undefined })
      return htmlResponse(layout({ title: 'Operations', userId, balance, active: 'operations', body }))
    })
    .get('/account', ({ request }) => {
      const userId = sessionUser(request)
      return userId ? accountPage(userId) : goTo(request, '/sign-in')
    })
    .post('/account', async ({ request }) => {
      const userId = sessionUser(request)
      if (!userId) return goTo(request, '/sign-in')
      const opened = await client.openAccount(userId)
      if (!isHtmx(request)) return opened.ok ? goTo(request, '/account') : accountPage(userId, undefined, opened.status)
      const { panel, balance, status } = await accountPanel(userId)
      return htmlResponse(html`${panel}${renderBalance(balance, { oob: true })}`, { status: opened.ok ? status : opened.status })
    })
    .post('/account/top-up', async ({ request, body }) => {
      const userId = sessionUser(request)
      if (!userId) return goTo(request, '/sign-in')
      const values = { amount: field(body as FormBody, 'amount') }
      const amount = parseMoney(values.amount)
      let form: FormState | undefined
      let status = 200
      if (!amount.ok) {
        form = { values, errors: { amount: amount.error } }
        status = 422
      } else {
        const done = await client.topUp(userId, amount.minor, formKey(body as FormBody))
        if (!done.ok) {
          form = { values, message: serviceMessage(done.error, 'payments') }
          status = done.status
        }
      }
      if (!isHtmx(request)) return status === 200 ? goTo(request, '/account') : accountPage(userId, form, status)
      const panel = await accountPanel(userId, form)
      return htmlResponse(html`${panel.panel}${renderBalance(panel.balance, { oob: true })}`, { status })
    })
}

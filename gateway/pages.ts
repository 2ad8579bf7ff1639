// The shopper's pages. Each form works two ways: as an htmx request (answered
// with the fragment to swap) and as a plain POST (answered with a redirect, or
// the whole page with the errors when JavaScript is off).
import { Elysia } from 'elysia'
import type { ErrorBody } from '../shared/errors'
import { isIdempotencyKey } from '../shared/http/idempotency'
import { type FormState, renderAccountPanel, renderBalance } from '../views/account'
import { html, htmlResponse } from '../views/html'
import { errorPage, layout, type Shopper } from '../views/layout'
import { parseMoney } from '../views/money'
import { renderOrder, renderOrderCreated, renderOrderDetail, renderOrderForm, renderOrdersPage } from '../views/orders'
import { renderOperations } from '../views/operations'
import type { Authenticator } from './auth/authenticator'
import { formGuard } from './auth/pages'
import { field, goTo, isHtmx } from './forms'
import type { ServiceClient } from './service-client'

/** The signed-in shopper of a page request: the user id for the services, the name and CSRF token for the page. */
type Viewer = { userId: string; shopper: Shopper }

/** The form's Idempotency-Key (views/form-fields.ts idempotencyKeyField), if it carries a usable one. */
const formKey = (body: unknown) => {
  const key = field(body, 'idempotencyKey')
  return isIdempotencyKey(key) ? key : undefined
}

function serviceMessage(error: ErrorBody | undefined, what: string): string {
  if (!error) return `The ${what} service did not answer. Nothing was changed; please try again.`
  return error.message
}

export function pages(deps: { client: ServiceClient; auth: Authenticator }) {
  const { client, auth } = deps

  function viewerOf(request: Request): Viewer | undefined {
    const session = auth.session(request)
    if (!session) return undefined
    return { userId: session.userId, shopper: { username: session.username, csrf: auth.tokens.csrfToken(session) } }
  }

  async function ordersPage({ userId, shopper }: Viewer, form?: FormState, status = 200): Promise<Response> {
    const [list, balance] = await Promise.all([client.listOrders(userId, { limit: 50 }), client.balance(userId)])
    const body = list.ok
      ? renderOrdersPage({ orders: list.body.items, form, csrf: shopper.csrf })
      : html`${renderOrderForm(shopper.csrf, form)}<p class="alert" role="alert">${serviceMessage(list.error, 'orders')}</p>`
    return htmlResponse(layout({ title: 'Orders', shopper, balance, active: 'orders', body }), { status })
  }

  async function accountPanel({ userId, shopper }: Viewer, form?: FormState) {
    const { csrf } = shopper
    const [account, statement] = await Promise.all([client.getAccount(userId), client.statement(userId)])
    if (account.ok) {
      return {
        panel: renderAccountPanel({ state: 'open', csrf, balance: account.body.balance, statement: statement.ok ? statement.body : [], form }),
        balance: account.body.balance,
        status: 200,
      }
    }
    if (account.status === 404) return { panel: renderAccountPanel({ state: 'missing', csrf }), balance: null, status: 200 }
    return {
      panel: renderAccountPanel({ state: 'missing', csrf, message: serviceMessage(account.error, 'payments') }),
      balance: undefined,
      status: 502,
    }
  }

  async function accountPage(viewer: Viewer, form?: FormState, status?: number): Promise<Response> {
    const { panel, balance, status: panelStatus } = await accountPanel(viewer, form)
    return htmlResponse(layout({ title: 'Account', shopper: viewer.shopper, balance, active: 'account', body: panel }), {
      status: status ?? panelStatus,
    })
  }

  return new Elysia({ name: 'gateway.pages' })
    .use(formGuard(auth))
    .resolve(({ request }) => ({ viewer: viewerOf(request) }))
    .get('/', ({ request, viewer }) => goTo(request, viewer ? '/orders' : '/sign-in'))
    .get('/orders', ({ request, viewer }) => (viewer ? ordersPage(viewer) : goTo(request, '/sign-in')))
    .post('/orders', async ({ request, body, viewer }) => {
      if (!viewer) return goTo(request, '/sign-in')
      const values = { amount: field(body, 'amount'), description: field(body, 'description').trim() }
      const errors: Record<string, string> = {}
      const amount = parseMoney(values.amount)
      if (!amount.ok) errors.amount = amount.error
      if (values.description.length > 200) errors.description = 'At most 200 characters.'
      if (values.description.includes('\u0000')) errors.description = 'The description contains a character that is not allowed.'
      let form: FormState | undefined
      let status = 422
      if (amount.ok && Object.keys(errors).length === 0) {
        const created = await client.createOrder(
          viewer.userId,
          { amount: amount.minor, description: values.description || undefined },
          formKey(body),
        )
        if (created.ok) {
          return isHtmx(request) ? htmlResponse(renderOrderCreated(created.body, viewer.shopper.csrf)) : goTo(request, '/orders')
        }
        status = created.status
        form = { values, message: serviceMessage(created.error, 'orders') }
      } else {
        form = { values, errors }
      }
      return isHtmx(request) ? htmlResponse(renderOrderForm(viewer.shopper.csrf, form), { status }) : ordersPage(viewer, form, status)
    })
    .get('/orders/:id', async ({ request, params, viewer }) => {
      if (!viewer) return goTo(request, '/sign-in')
      const { userId, shopper } = viewer
      const [order, balance] = await Promise.all([client.getOrder(userId, params.id), client.balance(userId)])
      if (!order.ok) {
        const notFound = order.status === 404
        return htmlResponse(
          errorPage({
            shopper,
            title: notFound ? 'Order not found' : 'Orders unavailable',
            message: notFound ? 'There is no such order among yours.' : serviceMessage(order.error, 'orders'),
          }),
          { status: notFound ? 404 : 502 },
        )
      }
      const body = renderOrderDetail(order.body)
      return htmlResponse(layout({ title: 'Order', shopper, balance, active: 'orders', body, liveQuery: `order=${order.body.id}` }))
    })
    .get('/orders/:id/row', async ({ request, params, viewer }) => {
      if (!viewer) return goTo(request, '/sign-in')
      const order = await client.getOrder(viewer.userId, params.id)
      if (!order.ok) return htmlResponse(html``, { status: order.status })
      return htmlResponse(renderOrder(order.body))
    })
    .get('/operations', async ({ request, viewer }) => {
      if (!viewer) return goTo(request, '/sign-in')
      const { userId, shopper } = viewer
      const [orders, payments, balance] = await Promise.all([
        client.operations(userId, 'orders'),
        client.operations(userId, 'payments'),
        client.balance(userId),
      ])
      const body = renderOperations({ orders: orders.ok ? orders.body : undefined, payments: payments.ok ? payments.body : undefined })
      return htmlResponse(layout({ title: 'Operations', shopper, balance, active: 'operations', body }))
    })
    .get('/account', ({ request, viewer }) => (viewer ? accountPage(viewer) : goTo(request, '/sign-in')))
    .post('/account', async ({ request, viewer }) => {
      if (!viewer) return goTo(request, '/sign-in')
      const opened = await client.openAccount(viewer.userId)
      if (!isHtmx(request)) return opened.ok ? goTo(request, '/account') : accountPage(viewer, undefined, opened.status)
      const { panel, balance, status } = await accountPanel(viewer)
      return htmlResponse(html`${panel}${renderBalance(balance, { oob: true })}`, { status: opened.ok ? status : opened.status })
    })
    .post('/account/top-up', async ({ request, body, viewer }) => {
      if (!viewer) return goTo(request, '/sign-in')
      const values = { amount: field(body, 'amount') }
      const amount = parseMoney(values.amount)
      let form: FormState | undefined
      let status = 200
      if (!amount.ok) {
        form = { values, errors: { amount: amount.error } }
        status = 422
      } else {
        const done = await client.topUp(viewer.userId, amount.minor, formKey(body))
        if (!done.ok) {
          form = { values, message: serviceMessage(done.error, 'payments') }
          status = done.status
        }
      }
      if (!isHtmx(request)) return status === 200 ? goTo(request, '/account') : accountPage(viewer, form, status)
      const panel = await accountPanel(viewer, form)
      return htmlResponse(html`${panel.panel}${renderBalance(panel.balance, { oob: true })}`, { status })
    })
}

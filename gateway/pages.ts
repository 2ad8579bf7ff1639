// The shopper's pages. Each form works two ways: as an htmx request (answered
// with the fragment to swap) and as a plain POST (answered with a redirect, or
// the whole page with the errors when JavaScript is off).
import { Elysia } from 'elysia'
import { DESCRIPTION_MAX_CHARACTERS } from '../shared/api-types'
import type { ErrorBody } from '../shared/errors'
import { isIdempotencyKey } from '../shared/http/idempotency'
import { MAX_BALANCE } from '../shared/money'
import { compareDigests } from '../shared/reconcile/digest'
import {
  ENTRIES_PER_PAGE,
  type FormState,
  readFailure,
  renderAccountPanel,
  renderBalance,
  renderMoreEntries,
  renderMoreEntriesFragment,
} from '../views/account'
import { IDEMPOTENCY_FIELD, ORDER_INTENT, TOP_UP_INTENT } from '../views/form-fields'
import { html, htmlResponse } from '../views/html'
import { errorPage, layout, type Shopper } from '../views/layout'
import type { Currency } from '../views/money'
import { type ReconciliationState, renderOperations } from '../views/operations'
import {
  ORDERS_PER_PAGE,
  renderMoreOrders,
  renderMoreOrdersFragment,
  renderOrder,
  renderOrderCreated,
  renderOrderDetail,
  renderOrderForm,
  renderOrderList,
  renderOrdersPage,
} from '../views/orders'
import { renderSessionsCard } from '../views/sign-in'
import type { Authenticator } from './auth/authenticator'
import { formGuard } from './auth/pages'
import { field, formBodies, goTo, isHtmx, keyAfter, outcomeMessage, outcomeOf, signInFirst } from './forms'
import type { ServiceClient } from './service-client'

/** The signed-in shopper of a page request: the user id for the services, the name and CSRF token for the page. */
type Viewer = { userId: string; shopper: Shopper }

/** The form's Idempotency-Key (views/form-fields.ts idempotencyKeyField), if it carries a usable one. */
const formKey = (body: unknown) => {
  const key = field(body, IDEMPOTENCY_FIELD)
  return isIdempotencyKey(key) ? key : undefined
}

/**
 * Why a page could not read what it shows (reads change nothing; the forms
 * have outcomeMessage). A service's own words only for a refusal of this
 * request; for its outages (5xx, or no answer) the shop's.
 */
function readMessage(result: { status: number; error?: ErrorBody }, what: 'orders' | 'payments'): string {
  if (result.error && result.status < 500) return result.error.message
  return `Your ${what === 'orders' ? 'orders' : 'account'} could not be loaded just now: the ${what} service did not answer.`
}

/** A statement line's id from a query ("Show more"), if it is one. */
function entryIdOf(value: string | null): number | undefined {
  if (value === null || !/^[1-9]\d{0,15}$/.test(value)) return undefined
  const id = Number(value)
  return Number.isSafeInteger(id) ? id : undefined
}

async function viewerOf(auth: Authenticator, request: Request): Promise<Viewer | undefined> {
  const session = await auth.session(request)
  if (!session) return undefined
  return { userId: session.userId, shopper: { username: session.username, csrf: auth.tokens.csrfToken(session) } }
}

/** A browser asking for a page (not an API client, a script, or anything under /api/). */
export function wantsPage(request: Request): boolean {
  const page = (request.method === 'GET' || request.method === 'HEAD') && (request.headers.get('accept') ?? '').includes('text/html')
  return page && !new URL(request.url).pathname.startsWith('/api/')
}

/** A browser's request for an address with no page (a mistyped URL, see wantsPage): a page that says so, with a way back. */
export async function notFoundPage(auth: Authenticator, currency: Currency, request: Request): Promise<Response> {
  const viewer = await viewerOf(auth, request)
  const text = { title: 'Page not found', message: 'There is no page at this address. It may have been mistyped, or the link may be out of date.' }
  return htmlResponse(errorPage(viewer ? { ...text, shopper: viewer.shopper, currency } : text), { status: 404 })
}

export function pages(deps: { client: ServiceClient; auth: Authenticator; currency: Currency; bodyTimeoutMs: number }) {
  const { client, auth, currency } = deps

  /** A refusal of payments, in money rather than minor units. */
  const topUpRefusal = (error: ErrorBody) =>
    error.error === 'balance_limit_exceeded' ? `This top-up would take the balance past the maximum of ${currency.format(MAX_BALANCE)}.` : error.message

  /** `cursor`: a later page (the "Show more" link without JavaScript). */
  async function ordersPage({ userId, shopper }: Viewer, form?: FormState, status = 200, cursor?: string): Promise<Response> {
    const [list, balance] = await Promise.all([client.listOrders(userId, { limit: ORDERS_PER_PAGE, cursor }), client.balance(userId)])
    // A cursor that is not one of ours (typed, cut short): the newest orders instead.
    if (cursor && !list.ok && list.error?.error === 'invalid_cursor') return ordersPage({ userId, shopper }, form, status)
    const body = list.ok
      ? renderOrdersPage({ orders: list.body.items, nextCursor: list.body.nextCursor, laterPage: cursor !== undefined, form, csrf: shopper.csrf, currency })
      : html`${renderOrderForm(shopper.csrf, currency, form)}${readFailure(readMessage(list, 'orders'), '/orders')}`
    return htmlResponse(layout({ title: 'Orders', shopper, currency, balance, active: 'orders', body }), { status })
  }

  /**
   * The account panel. `unanswered`: payments just did not answer the top-up;
   * asking it again for the balance would only make the shopper wait a second
   * timeout before seeing the message, so the panel says it is unavailable.
   */
  async function accountPanel({ userId, shopper }: Viewer, form?: FormState, unanswered = false, before?: number) {
    const { csrf } = shopper
    if (unanswered) return unavailablePanel(csrf, undefined, form)
    const [account, statement] = await Promise.all([client.getAccount(userId), statementPage(userId, before)])
    if (account.ok) {
      return {
        panel: renderAccountPanel({
          state: 'open',
          csrf,
          currency,
          balance: account.body.balance,
          statement: statement?.lines,
          moreBefore: statement?.moreBefore,
          laterPage: before !== undefined,
          form,
        }),
        balance: account.body.balance,
        status: 200,
      }
    }
    if (account.status === 404) return { panel: renderAccountPanel({ state: 'missing', csrf, message: form?.message }), balance: null, status: 200 }
    return unavailablePanel(csrf, account, form)
  }

  /** Payments did not answer: the top-up form stays if a top-up is what awaits confirmation (its key kept). */
  function unavailablePanel(csrf: string, read: { status: number; error?: ErrorBody } | undefined, form?: FormState) {
    return {
      panel: renderAccountPanel({ state: 'unavailable', csrf, currency, message: readMessage(read ?? { status: 502 }, 'payments'), form }),
      balance: undefined,
      status: 502,
    }
  }

  /** A page of the statement: one line more is asked for, to know whether "Show more" has anything to show. */
  async function statementPage(userId: string, before?: number) {
    const read = await client.statement(userId, { limit: ENTRIES_PER_PAGE + 1, before })
    if (!read.ok) return undefined
    const lines = read.body.slice(0, ENTRIES_PER_PAGE)
    return { lines, moreBefore: read.body.length > ENTRIES_PER_PAGE ? lines.at(-1)!.id : undefined }
  }

  async function accountPage(viewer: Viewer, form?: FormState, status?: number, unanswered = false, before?: number): Promise<Response> {
    const { panel, balance, status: panelStatus } = await accountPanel(viewer, form, unanswered, before)
    const body = html`${panel}${renderSessionsCard(viewer.shopper.csrf)}`
    return htmlResponse(layout({ title: 'Account', shopper: viewer.shopper, currency, balance, active: 'account', body }), {
      status: status ?? panelStatus,
    })
  }

  /** Compares the two services' reconciliation digests (no order leaves either service). */
  async function reconcile(userId: string): Promise<ReconciliationState> {
    const [orders, payments] = await Promise.all([client.digest(userId, 'orders'), client.digest(userId, 'payments')])
    if (!orders.ok) return { state: 'unavailable', service: 'orders' }
    if (!payments.ok) return { state: 'unavailable', service: 'payments' }
    return { state: 'compared', comparison: compareDigests(orders.body, payments.body) }
  }

  return (
    new Elysia({ name: 'gateway.pages' })
      .use(formBodies(deps.bodyTimeoutMs))
      .use(formGuard(auth))
      .resolve(async ({ request }) => ({ viewer: await viewerOf(auth, request) }))
      .get('/', ({ request, viewer }) => goTo(request, viewer ? '/orders' : '/sign-in'))
      .get('/orders', ({ request, viewer }) => {
        if (!viewer) return signInFirst(request)
        return ordersPage(viewer, undefined, 200, new URL(request.url).searchParams.get('cursor') || undefined)
      })
      // "Show more" with htmx: the next rows, appended to the list (views/orders.ts renderMoreOrders).
      .get('/orders/more', async ({ request, viewer }) => {
        if (!viewer) return signInFirst(request)
        const cursor = new URL(request.url).searchParams.get('cursor') || undefined
        const list = await client.listOrders(viewer.userId, { limit: ORDERS_PER_PAGE, cursor })
        if (list.ok) return htmlResponse(renderMoreOrdersFragment(list.body.items, list.body.nextCursor, currency))
        if (list.error?.error === 'invalid_cursor') return htmlResponse(renderMoreOrders(null))
        return htmlResponse(renderMoreOrders(cursor ?? null, 'Older orders could not be loaded just now.'))
      })
      .post('/orders', async ({ request, body, viewer }) => {
        if (!viewer) return signInFirst(request)
        const values = { amount: field(body, 'amount'), description: field(body, 'description').trim() }
        const submittedKey = formKey(body)
        const errors: Record<string, string> = {}
        const amount = currency.parse(values.amount)
        if (!amount.ok) errors.amount = amount.error
        if ([...values.description].length > DESCRIPTION_MAX_CHARACTERS) errors.description = `Use at most ${DESCRIPTION_MAX_CHARACTERS} characters.`
        if (values.description.includes('\u0000')) errors.description = 'The description contains a character that is not allowed.'
        let form: FormState
        let status = 422
        let extra = html``
        if (amount.ok && Object.keys(errors).length === 0) {
          const created = await client.createOrder(viewer.userId, { amount: amount.minor, description: values.description || undefined }, submittedKey)
          if (created.ok) {
            return isHtmx(request) ? htmlResponse(renderOrderCreated(created.body, viewer.shopper.csrf, currency)) : goTo(request, '/orders')
          }
          const outcome = outcomeOf(created)
          status = created.status
          form = { values, message: outcomeMessage(ORDER_INTENT, created), idempotencyKey: keyAfter(outcome, submittedKey) }
          // The earlier submission may have placed an order this page does not show yet: show the list as it is now.
          if (outcome === 'reused' && isHtmx(request)) {
            const list = await client.listOrders(viewer.userId, { limit: 50 })
            if (list.ok) extra = renderOrderList(list.body.items, currency, { oob: true })
          }
        } else {
          // Nothing was sent: the outcome of an earlier press, if any, is still open.
          form = { values, errors, idempotencyKey: keyAfter('not_sent', submittedKey) }
        }
        return isHtmx(request)
          ? htmlResponse(html`${renderOrderForm(viewer.shopper.csrf, currency, form)}${extra}`, { status })
          : ordersPage(viewer, form, status)
      })
      .get('/orders/:id', async ({ request, params, viewer }) => {
        if (!viewer) return signInFirst(request)
        const { userId, shopper } = viewer
        const [order, balance] = await Promise.all([client.getOrder(userId, params.id), client.balance(userId)])
        if (!order.ok) {
          const notFound = order.status === 404
          return htmlResponse(
            errorPage({
              shopper,
              currency,
              title: notFound ? 'Order not found' : 'Orders unavailable',
              message: notFound ? 'There is no such order among yours.' : readMessage(order, 'orders'),
            }),
            { status: notFound ? 404 : 502 },
          )
        }
        const body = renderOrderDetail(order.body, currency)
        return htmlResponse(layout({ title: 'Order', shopper, currency, balance, active: 'orders', body, liveQuery: `order=${order.body.id}` }))
      })
      .get('/orders/:id/row', async ({ request, params, viewer }) => {
        if (!viewer) return signInFirst(request)
        const order = await client.getOrder(viewer.userId, params.id)
        // No such order: the row goes. Any other failure: 204, which htmx does not swap (it swaps error bodies),
        // so the row stays as it is and asks again (renderOrder's refresh).
        if (!order.ok) return order.status === 404 ? htmlResponse(html``) : new Response(null, { status: 204 })
        return htmlResponse(renderOrder(order.body, currency))
      })
      .get('/operations', async ({ request, viewer }) => {
        if (!viewer) return signInFirst(request)
        const { userId, shopper } = viewer
        const compare = new URL(request.url).searchParams.get('compare') === '1'
        const [orders, payments, balance, reconciliation] = await Promise.all([
          client.operations(userId, 'orders'),
          client.operations(userId, 'payments'),
          client.balance(userId),
          compare ? reconcile(userId) : ({ state: 'not_asked' } as const),
        ])
        const body = renderOperations(
          { orders: orders.ok ? orders.body : undefined, payments: payments.ok ? payments.body : undefined },
          currency,
          reconciliation,
        )
        return htmlResponse(layout({ title: 'Operations', shopper, currency, balance, active: 'operations', body }))
      })
      .get('/account', ({ request, viewer }) => {
        if (!viewer) return signInFirst(request)
        const query = new URL(request.url).searchParams
        const toppedUp = query.get('topped-up') === '1'
        const form = toppedUp ? { confirmation: 'Your top-up was added; it is the first line of the statement.' } : undefined
        return accountPage(viewer, form, undefined, false, entryIdOf(query.get('before')))
      })
      // "Show more" of the statement with htmx: the next lines, appended (views/account.ts renderMoreEntries).
      .get('/account/statement/more', async ({ request, viewer }) => {
        if (!viewer) return signInFirst(request)
        const before = entryIdOf(new URL(request.url).searchParams.get('before'))
        if (before === undefined) return htmlResponse(renderMoreEntries(undefined))
        const page = await statementPage(viewer.userId, before)
        if (!page) return htmlResponse(renderMoreEntries(before, 'Older lines could not be loaded just now.'))
        return htmlResponse(renderMoreEntriesFragment(page.lines, page.moreBefore, currency))
      })
      .post('/account', async ({ request, viewer }) => {
        if (!viewer) return signInFirst(request)
        const opened = await client.openAccount(viewer.userId)
        if (!isHtmx(request)) return opened.ok ? goTo(request, '/account') : accountPage(viewer, undefined, opened.status)
        const { panel, balance, status } = await accountPanel(viewer)
        return htmlResponse(html`${panel}${renderBalance(balance, currency, { oob: true })}`, { status: opened.ok ? status : opened.status })
      })
      .post('/account/top-up', async ({ request, body, viewer }) => {
        if (!viewer) return signInFirst(request)
        const values = { amount: field(body, 'amount') }
        const submittedKey = formKey(body)
        const amount = currency.parse(values.amount)
        let form: FormState | undefined
        let status = 200
        let unanswered = false
        if (!amount.ok) {
          // Nothing was sent: the key stays with the shopper's intent.
          form = { values, errors: { amount: amount.error }, idempotencyKey: keyAfter('not_sent', submittedKey) }
          status = 422
        } else {
          const done = await client.topUp(viewer.userId, amount.minor, submittedKey)
          if (!done.ok) {
            form = { values, message: outcomeMessage(TOP_UP_INTENT, done, topUpRefusal), idempotencyKey: keyAfter(outcomeOf(done), submittedKey) }
            status = done.status
            unanswered = done.unanswered !== undefined
          } else {
            form = { confirmation: `Added ${currency.format(amount.minor)}. Your balance is now ${currency.format(done.body.balance)}.` }
          }
        }
        // Without JavaScript: after the redirect, the page says a top-up was added (the amount is in the statement).
        if (!isHtmx(request)) return status === 200 ? goTo(request, '/account?topped-up=1') : accountPage(viewer, form, status, unanswered)
        const panel = await accountPanel(viewer, form, unanswered)
        return htmlResponse(html`${panel.panel}${renderBalance(panel.balance, currency, { oob: true })}`, { status })
      })
  )
}

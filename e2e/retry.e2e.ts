// Pressing a money form's button again after an unknown outcome, in a real
// browser: the service is frozen (SIGSTOP) past the gateway's upstream
// timeout (1.5 s, global-setup.ts), the shopper is told the outcome is not
// known yet, the service resumes, the shopper presses again: the re-rendered
// form carried the same Idempotency-Key, so there is exactly one order or
// one top-up, and the balance is right.
import { expect, type Locator, type Page, test } from '@playwright/test'
import { PASSWORD, signUp } from './shopper'

const base = () => process.env.GOZON_E2E_URL!
const unique = (name: string) => `${name}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`

/** Freezes a service process for the duration of `during`; it always resumes. */
async function frozen<T>(pidVariable: string, during: (resume: () => void) => Promise<T>): Promise<T> {
  const pid = Number(process.env[pidVariable])
  expect(pid).toBeGreaterThan(0)
  process.kill(pid, 'SIGSTOP')
  try {
    return await during(() => process.kill(pid, 'SIGCONT'))
  } finally {
    process.kill(pid, 'SIGCONT')
  }
}

const keyIn = (form: Locator) => form.locator('input[name="idempotencyKey"]').inputValue()

/**
 * Presses the button again after the service resumed. The first request may
 * still be running (409 in flight: "still being processed", press again in
 * a moment), so press until the form answers something else.
 */
async function pressAgainUntilSettled(page: Page, form: () => Locator, button: string, settled: Locator) {
  for (let attempt = 0; attempt < 20; attempt++) {
    await form().getByRole('button', { name: button }).click()
    const inFlight = form().getByRole('alert').filter({ hasText: 'still being processed' })
    await expect(settled.or(inFlight)).toBeVisible()
    if (await settled.isVisible()) return
    await page.waitForTimeout(300)
  }
  throw new Error('the first request was still being processed after 20 presses')
}

async function apiToken(page: Page, username: string): Promise<string> {
  const response = await page.request.post(`${base()}/api/auth/token`, { data: { username, password: PASSWORD } })
  expect(response.status()).toBe(200)
  return ((await response.json()) as { accessToken: string }).accessToken
}

/** A new shopper with an account topped up by `amount` (as typed), on the orders page. */
async function shopperOnOrders(page: Page, name: string, amount: string): Promise<string> {
  const username = unique(name)
  await signUp(page, base(), username)
  await page.getByRole('button', { name: 'Open account' }).click()
  await page.getByLabel('Top up').fill(amount)
  await page.getByRole('button', { name: 'Add money' }).click()
  await expect(page.locator('#account-balance')).toHaveText(`${amount} EUR`)
  await page.getByRole('link', { name: 'Orders', exact: true }).click()
  return username
}

test('orders frozen past the timeout: pressing “Place order” again places exactly one order', async ({ browser }) => {
  const context = await browser.newContext()
  const page = await context.newPage()
  const username = await shopperOnOrders(page, 'frozen-orders', '50.00')

  const form = () => page.locator('#order-form')
  const rows = page.locator('#order-list .order')
  const key = await keyIn(form())
  await frozen('GOZON_E2E_ORDERS_PID', async (resume) => {
    await page.getByLabel('Amount').fill('12,50')
    await page.getByLabel('Description').fill('Ordered while frozen')
    await page.getByRole('button', { name: 'Place order' }).click()
    await expect(form().getByRole('alert')).toHaveText(
      'We could not confirm your order yet: the orders service did not answer in time. Pressing “Place order” again is safe: it will not order or pay twice.',
    )
    expect(await keyIn(form())).toBe(key)
    await expect(page.getByLabel('Amount')).toHaveValue('12,50')
    await expect(rows).toHaveCount(0)
    resume()
  })
  const row = page.locator('#order-list .order', { hasText: 'Ordered while frozen' })
  await pressAgainUntilSettled(page, form, 'Place order', row)
  await expect(rows).toHaveCount(1)
  await expect(row.locator('.amount')).toHaveText('12.50 EUR')
  await expect(row.locator('.badge')).toHaveAttribute('data-status', 'FINISHED')
  await expect(page.locator('#balance')).toContainText('37.50 EUR')
  // A fresh form for the next order.
  expect(await keyIn(form())).not.toBe(key)

  // The API and a reloaded page agree: one order, paid once.
  const token = await apiToken(page, username)
  const orders = await page.request.get(`${base()}/api/orders`, { headers: { authorization: `Bearer ${token}` } })
  const items = ((await orders.json()) as { items: { amount: number; status: string }[] }).items
  expect(items).toEqual([expect.objectContaining({ amount: 1250, status: 'FINISHED' })])
  await page.reload()
  await expect(rows).toHaveCount(1)
  await expect(page.locator('#balance')).toContainText('37.50 EUR')
  await page.getByRole('link', { name: 'Account', exact: true }).click()
  await expect(page.locator('#statement tbody tr')).toHaveCount(2)
  await context.close()
})

test('payments frozen past the timeout: pressing “Add money” again tops up exactly once', async ({ browser }) => {
  const context = await browser.newContext()
  const page = await context.newPage()
  await signUp(page, base(), unique('frozen-payments'))
  await page.getByRole('button', { name: 'Open account' }).click()
  await expect(page.locator('#account-balance')).toHaveText('0.00 EUR')

  const form = () => page.locator('#top-up-form')
  const key = await keyIn(form())
  await frozen('GOZON_E2E_PAYMENTS_PID', async (resume) => {
    await page.getByLabel('Top up').fill('12,50')
    await page.getByRole('button', { name: 'Add money' }).click()
    await expect(form().getByRole('alert')).toHaveText(
      'We could not confirm your top-up yet: the payments service did not answer in time. Pressing “Add money” again is safe: it will not add the money twice.',
    )
    // The account could not be read either; the form stays, with the same key and amount.
    expect(await keyIn(form())).toBe(key)
    await expect(page.getByLabel('Top up')).toHaveValue('12,50')
    resume()
  })
  const balance = page.locator('#account-balance')
  await pressAgainUntilSettled(page, form, 'Add money', page.locator('#account-balance', { hasText: '12.50 EUR' }))
  await expect(balance).toHaveText('12.50 EUR')
  await expect(page.locator('#balance')).toContainText('12.50 EUR')
  await expect(page.locator('#statement tbody tr')).toHaveCount(1)
  await expect(page.locator('#statement tbody tr').first()).toContainText('+12.50 EUR')
  expect(await keyIn(form())).not.toBe(key)
  await page.reload()
  await expect(page.locator('#statement tbody tr')).toHaveCount(1)
  await expect(balance).toHaveText('12.50 EUR')
  await context.close()
})

test('an order answered by the load balancer’s own error page (the gateway died after sending it on): the form stays, and pressing again places one order', async ({
  browser,
}) => {
  const context = await browser.newContext()
  const page = await context.newPage()
  const username = await shopperOnOrders(page, 'balancer-error', '20.00')

  const form = () => page.locator('#order-form')
  const key = await keyIn(form())
  // The order reaches the gateway and is placed; its answer is lost, and the balancer answers
  // with its JSON error page instead (launcher/haproxy.ts errorfiles), as when a gateway dies mid-request.
  await page.route('**/orders', async (route) => {
    if (route.request().method() !== 'POST') return route.fallback()
    await route.fetch()
    await route.fulfill({ status: 502, contentType: 'application/json', body: '{"error":"upstream_unavailable","message":"The service did not answer."}' })
  })
  await page.getByLabel('Amount').fill('3.00')
  await page.getByLabel('Description').fill('Answer lost')
  await page.getByRole('button', { name: 'Place order' }).click()
  await expect(form().getByRole('alert')).toHaveText(
    'We could not confirm your order yet: the shop did not answer. Pressing “Place order” again is safe: it will not order or pay twice.',
  )
  await expect(page.getByText('upstream_unavailable')).toHaveCount(0)
  expect(await keyIn(form())).toBe(key)
  await expect(page.getByLabel('Amount')).toHaveValue('3.00')
  await page.unroute('**/orders')

  const rows = page.locator('#order-list .order')
  const row = page.locator('#order-list .order', { hasText: 'Answer lost' })
  await pressAgainUntilSettled(page, form, 'Place order', row)
  await expect(rows).toHaveCount(1)
  await expect(row.locator('.badge')).toHaveAttribute('data-status', 'FINISHED')
  await expect(page.locator('#balance')).toContainText('17.00 EUR')
  const token = await apiToken(page, username)
  const orders = await page.request.get(`${base()}/api/orders`, { headers: { authorization: `Bearer ${token}` } })
  expect(((await orders.json()) as { items: unknown[] }).items).toHaveLength(1)
  await context.close()
})

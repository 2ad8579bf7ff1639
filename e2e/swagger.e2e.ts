// The Swagger UI pages in a real browser, through the gateway: each loads its
// document and lists its operations; on the identity page "Try it out" creates
// a user and gets a token; on the orders and payments pages Authorize takes a
// real token and "Try it out" on a GET answers 200.
import { type APIRequestContext, expect, type Page, test } from '@playwright/test'
import { PASSWORD } from './shopper'

const base = () => process.env.GOZON_E2E_URL!
const unique = (name: string) => `${name}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`

/** A user made with POST /api/auth/users, and its token from POST /api/auth/token. */
async function apiUser(request: APIRequestContext): Promise<string> {
  const credentials = { username: unique('docs'), password: PASSWORD }
  expect((await request.post(`${base()}/api/auth/users`, { data: credentials })).status()).toBe(201)
  const token = await request.post(`${base()}/api/auth/token`, { data: credentials })
  expect(token.status()).toBe(200)
  return (await token.json()).accessToken
}

function operation(page: Page, method: string, path: string) {
  return page.locator(`.opblock.opblock-${method.toLowerCase()}`).filter({ has: page.locator(`.opblock-summary-path[data-path="${path}"]`) })
}

/** Opens the page and checks that it lists exactly these operations (no "Failed to load API definition"). */
async function openDocs(page: Page, prefix: string, operations: [string, string][]) {
  await page.goto(`${base()}${prefix}/swagger`)
  await expect(page.locator('.information-container .title')).toBeVisible()
  for (const [method, path] of operations) await expect(operation(page, method, path)).toBeVisible()
  await expect(page.locator('.opblock')).toHaveCount(operations.length)
  await expect(page.getByText('Failed to load API definition')).toHaveCount(0)
}

async function authorize(page: Page, token: string, screenshot?: string) {
  await page.locator('.scheme-container').getByRole('button', { name: 'Authorize' }).click()
  const modal = page.locator('.modal-ux')
  await modal.locator('#auth-bearer-value').fill(token)
  await modal.getByRole('button', { name: 'Apply credentials' }).click()
  await expect(modal.getByRole('button', { name: 'Remove authorization' })).toBeVisible()
  if (screenshot) await modal.locator('.modal-ux-inner').screenshot({ path: screenshot })
  await modal.getByRole('button', { name: 'Close' }).click()
  await expect(modal).toHaveCount(0)
}

/** Expands the operation, presses "Try it out" (filling the body if given) and "Execute"; returns the block. */
async function tryItOut(page: Page, method: string, path: string, body?: unknown) {
  const block = operation(page, method, path)
  await block.locator('.opblock-summary-control').click()
  await block.getByRole('button', { name: 'Try it out' }).click()
  if (body !== undefined) await block.locator('textarea.body-param__text').fill(JSON.stringify(body))
  await block.getByRole('button', { name: 'Execute' }).click()
  // Sent to the gateway (the document's server is "/", this origin).
  const url = `${base()}${path}`.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  await expect(block.locator('.request-url pre')).toHaveText(new RegExp(`^${url}(\\?|$)`))
  return block
}

async function expectServerResponse(block: ReturnType<typeof operation>, status: number) {
  await expect(block.locator('.live-responses-table tbody .response-col_status')).toHaveText(String(status))
}

test('the identity API page: "Try it out" creates a user and gets a token', async ({ page }) => {
  await openDocs(page, '/api/auth', [
    ['POST', '/api/auth/users'],
    ['POST', '/api/auth/token'],
  ])
  const credentials = { username: unique('swagger'), password: PASSWORD }
  await expectServerResponse(await tryItOut(page, 'POST', '/api/auth/users', credentials), 201)
  const tokenAnswer = page.waitForResponse((response) => response.url() === `${base()}/api/auth/token`)
  const block = await tryItOut(page, 'POST', '/api/auth/token', credentials)
  await expectServerResponse(block, 200)
  expect((await (await tokenAnswer).json()).accessToken).toBeTruthy()
  await block.screenshot({ path: 'test-results/e2e/swagger-auth-token.png' })
})

test('the orders API page: authorized with a real token, GET /api/orders answers 200', async ({ page, request }) => {
  const token = await apiUser(request)
  await openDocs(page, '/api/orders', [
    ['POST', '/api/orders'],
    ['GET', '/api/orders'],
    ['GET', '/api/orders/{id}'],
    ['GET', '/api/orders/operations'],
    ['GET', '/api/orders/operations/digest'],
  ])
  // Without a token the gateway refuses: the button is what makes it work.
  const refused = await tryItOut(page, 'GET', '/api/orders')
  await expectServerResponse(refused, 401)
  await authorize(page, token, 'test-results/e2e/swagger-authorize.png')
  await refused.getByRole('button', { name: 'Execute' }).click()
  await expectServerResponse(refused, 200)
  await expect(refused.locator('.live-responses-table .response-col_description pre').first()).toContainText('"items"')
  // Every reference of the expanded operation resolved: the documented 200 shows the page of orders, no resolver error.
  await expect(refused.locator('.responses-table .response[data-code="200"] .example')).toContainText('nextCursor')
  await expect(page.getByText('Resolver error')).toHaveCount(0)
  await page.screenshot({ path: 'test-results/e2e/swagger-orders.png', fullPage: true })
})

test('the payments API page: authorized with a real token, GET /api/payments/account answers 200', async ({ page, request }) => {
  const token = await apiUser(request)
  const opened = await request.post(`${base()}/api/payments/account`, { headers: { authorization: `Bearer ${token}` } })
  expect(opened.status()).toBe(201)
  await openDocs(page, '/api/payments', [
    ['POST', '/api/payments/account'],
    ['GET', '/api/payments/account'],
    ['POST', '/api/payments/account/top-up'],
    ['GET', '/api/payments/account/transactions'],
    ['GET', '/api/payments/operations'],
    ['GET', '/api/payments/operations/digest'],
  ])
  await authorize(page, token)
  const block = await tryItOut(page, 'GET', '/api/payments/account')
  await expectServerResponse(block, 200)
  await expect(block.locator('.live-responses-table .response-col_description pre').first()).toContainText('"balance"')
  await page.screenshot({ path: 'test-results/e2e/swagger-payments.png', fullPage: true })
})

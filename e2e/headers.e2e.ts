// What the pages' security headers mean in a real browser: the whole journey
// (sign-up, account, top-up, an order paid live over the WebSocket) runs
// under the Content-Security-Policy without one violation, and a signed-in
// page does not render inside another origin's frame (another port of the
// same host is another origin).
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { expect, type Page, test } from '@playwright/test'
import { placeOrder, signUp } from './shopper'

const base = () => process.env.GOZON_E2E_URL!
const unique = (name: string) => `${name}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`

/** What the browser reports of the page's Content-Security-Policy being broken, as it happens. */
function cspViolations(page: Page): string[] {
  const violations: string[] = []
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) violations.push(message.text())
  })
  return violations
}

test('the whole journey runs under the Content-Security-Policy without a violation', async ({ browser }) => {
  const context = await browser.newContext()
  const page = await context.newPage()
  const violations = cspViolations(page)
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      console.error(`Content Security Policy violation: ${event.violatedDirective} ${event.blockedURI}`)
    })
  })
  await signUp(page, base(), unique('csp'))
  await page.getByRole('button', { name: 'Open account' }).click()
  // A top-up, a refused one (the form swapped with its error), another: each swap replaces the form's input.
  await page.getByLabel('Top up').fill('12,50')
  await page.getByRole('button', { name: 'Add money' }).click()
  await expect(page.locator('#account-balance')).toHaveText('12.50 EUR')
  await page.getByLabel('Top up').fill('abc')
  await page.getByRole('button', { name: 'Add money' }).click()
  await expect(page.locator('#top-up-amount-error')).toBeVisible()
  await page.getByLabel('Top up').fill('€7.50')
  await page.getByRole('button', { name: 'Add money' }).click()
  await expect(page.locator('#account-balance')).toHaveText('20.00 EUR')
  await page.getByRole('link', { name: 'Orders', exact: true }).click()
  const row = await placeOrder(page, '5', 'under policy')
  // Pushed over the live WebSocket (connect-src 'self'), swapped by htmx (script-src 'self').
  await expect(row.locator('.badge')).toHaveAttribute('data-status', 'FINISHED')
  await expect(page.locator('#balance')).toContainText('15.00 EUR')
  await page.goto(`${base()}/no-such-page`)
  await expect(page.getByRole('heading', { name: 'Page not found' })).toBeVisible()
  await page.screenshot({ path: 'test-results/e2e/not-found-page.png' })
  expect(violations).toEqual([])
  await context.close()
})

test('the API pages (Swagger UI) carry their own policy: their one inline script by its hash, no framing', async ({ browser }) => {
  const context = await browser.newContext()
  const page = await context.newPage()
  const violations = cspViolations(page)
  const response = await page.goto(`${base()}/api/orders/swagger`)
  expect(response!.headers()['content-security-policy']).toContain("frame-ancestors 'none'")
  expect(response!.headers()['x-frame-options']).toBe('DENY')
  await expect(page.getByText('POST/api/orders', { exact: false }).first()).toBeVisible()
  expect(violations).toEqual([])
  await context.close()
})

test('a signed-in page does not render inside another origin’s frame', async ({ browser }) => {
  const context = await browser.newContext()
  const page = await context.newPage()
  await signUp(page, base(), unique('framed'))
  // Another origin on the same host (the cookie is same-site, so a frame would be signed in).
  const framer: Server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html' })
    response.end(`<!doctype html><title>framer</title><iframe src="${base()}/account" width="800" height="600"></iframe>`)
  })
  await new Promise<void>((resolve) => framer.listen(0, '127.0.0.1', resolve))
  try {
    await page.goto(`http://127.0.0.1:${(framer.address() as AddressInfo).port}/`)
    await page.waitForTimeout(1500)
    const child = page.frames().find((frame) => frame !== page.mainFrame())
    expect(child).toBeDefined()
    const content = await child!.content().catch(() => '')
    expect(content).not.toContain('id="current-user"')
    expect(content).not.toContain('Account')
  } finally {
    framer.close()
    await context.close()
  }
})

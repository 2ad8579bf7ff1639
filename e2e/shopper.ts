// What a shopper does in the browser, shared by the browser tests (Node,
// e2e/shop.e2e.ts) and fault scenario 10 (Bun, test/faults/gateway.test.ts).
import { expect, type Page } from '@playwright/test'

export const PASSWORD = 'a long enough password'

/** Creates the user through the sign-up page; the shopper lands on the account page, signed in. */
export async function signUp(page: Page, base: string, username: string): Promise<void> {
  await page.goto(`${base}/sign-up`)
  await page.getByLabel('User name').fill(username)
  await page.getByLabel('Password').fill(PASSWORD)
  await page.getByRole('button', { name: 'Create account' }).click()
  await expect(page).toHaveURL(/\/account$/)
  await expect(page.locator('#current-user')).toHaveText(username)
}

/** Signs in through the sign-in form on the page it is on (or opens /sign-in first when `base` is given). */
export async function signIn(page: Page, username: string, base?: string): Promise<void> {
  if (base) await page.goto(`${base}/sign-in`)
  await page.getByLabel('User name').fill(username)
  await page.getByLabel('Password').fill(PASSWORD)
  await page.getByRole('button', { name: 'Sign in' }).click()
}

/** Places an order with the form; returns its row in the list. */
export async function placeOrder(page: Page, amount: string, description: string) {
  await page.getByLabel('Amount').fill(amount)
  await page.getByLabel('Description').fill(description)
  await page.getByRole('button', { name: 'Place order' }).click()
  const row = page.locator('#order-list .order', { hasText: description })
  await expect(row).toHaveCount(1)
  return row
}

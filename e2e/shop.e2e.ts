// A shopper's journey in a real browser: sign up, open an account, top up,
// order, and watch the status badges change without reloading; sign out and
// in again; a form posted from another site is refused.
import { type Browser, expect, type Page, test } from '@playwright/test'
import { PASSWORD, placeOrder, signIn, signUp } from './shopper'

const base = () => process.env.GOZON_E2E_URL!
const unique = (name: string) => `${name}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`

async function openAccountWith(page: Page, amount: string) {
  await page.getByRole('link', { name: 'Account', exact: true }).click()
  await page.getByRole('button', { name: 'Open account' }).click()
  await expect(page.locator('#account-balance')).toHaveText('0.00 EUR')
  await page.getByLabel('Top up').fill(amount)
  await page.getByRole('button', { name: 'Add money' }).click()
  await expect(page.locator('#account-balance')).toHaveText(`${amount} EUR`)
}

/** Marks the document; if the page reloads, the mark is gone. */
async function markPage(page: Page) {
  await page.evaluate(() => {
    ;(window as unknown as { gozonMark: number }).gozonMark = 42
  })
}
async function expectNotReloaded(page: Page) {
  expect(await page.evaluate(() => (window as unknown as { gozonMark?: number }).gozonMark)).toBe(42)
}

async function newShopper(browser: Browser, name: string) {
  const context = await browser.newContext()
  const page = await context.newPage()
  const username = unique(name)
  await signUp(page, base(), username)
  await page.getByRole('link', { name: 'Orders', exact: true }).click()
  return { context, page, username }
}

test('a shopper tops up, pays one order and sees another cancelled, live', async ({ browser }) => {
  const { context, page } = await newShopper(browser, 'alice')
  await openAccountWith(page, '50.00')
  await expect(page.locator('#statement tbody tr')).toHaveCount(1)
  await expect(page.locator('#balance')).toContainText('50.00')

  await page.getByRole('link', { name: 'Orders', exact: true }).click()
  await markPage(page)
  const paid = await placeOrder(page, '12.50', 'A paperback')
  await expect(paid.locator('.badge')).toHaveAttribute('data-status', 'FINISHED')
  await expect(paid.locator('.badge')).toHaveText('Paid')
  const refused = await placeOrder(page, '100', 'A bicycle')
  await expect(refused.locator('.badge')).toHaveAttribute('data-status', 'CANCELLED')
  await expect(refused.locator('.reason')).toHaveText('Not enough money in the account.')
  // The balance in the top bar followed the payment, pushed with the status.
  await expect(page.locator('#balance')).toContainText('37.50 EUR')
  await expectNotReloaded(page)
  // The form was cleared for the next order.
  await expect(page.getByLabel('Amount')).toHaveValue('')

  await page.screenshot({ path: 'test-results/e2e/orders-page.png', fullPage: true })
  await page.setViewportSize({ width: 390, height: 844 })
  await page.screenshot({ path: 'test-results/e2e/orders-page-phone.png', fullPage: true })

  await page.getByRole('link', { name: 'Account', exact: true }).click()
  await expect(page.locator('#statement tbody tr')).toHaveCount(2)
  await expect(page.locator('#statement tbody tr').first()).toContainText('Payment for')
  await context.close()
})

test('validation errors show next to the field, and nothing is placed', async ({ browser }) => {
  const { context, page } = await newShopper(browser, 'typo')
  for (const [amount, message] of [
    ['abc', 'Enter the amount in digits, like 12.50.'],
    ['1.234', 'Unclear: is that 1234 or 1.234? For 1234, write it without a separator; amounts have at most two decimals.'],
    ['12.345,678', 'At most two decimals'],
    ['0', 'The amount must be more than 0.00 EUR.'],
    ['$5', 'Amounts are in EUR'],
  ] as const) {
    await page.getByLabel('Amount').fill(amount)
    await page.getByRole('button', { name: 'Place order' }).click()
    await expect(page.locator('#order-amount-error')).toContainText(message)
    await expect(page.getByLabel('Amount')).toHaveAttribute('aria-invalid', 'true')
  }
  await expect(page.locator('#order-list .order')).toHaveCount(0)
  await context.close()
})

test('two shoppers see only their own orders and updates', async ({ browser }) => {
  const a = await newShopper(browser, 'ann')
  const b = await newShopper(browser, 'ben')
  await openAccountWith(a.page, '20.00')
  await openAccountWith(b.page, '20.00')
  await a.page.getByRole('link', { name: 'Orders', exact: true }).click()
  await b.page.getByRole('link', { name: 'Orders', exact: true }).click()

  const aRow = await placeOrder(a.page, '5.00', 'Ann’s tea')
  await expect(aRow.locator('.badge')).toHaveAttribute('data-status', 'FINISHED')
  const bRow = await placeOrder(b.page, '30.00', 'Ben’s kettle')
  await expect(bRow.locator('.badge')).toHaveAttribute('data-status', 'CANCELLED')

  await expect(a.page.locator('#order-list .order')).toHaveCount(1)
  await expect(b.page.locator('#order-list .order')).toHaveCount(1)
  await expect(a.page.locator('#order-list')).not.toContainText('Ben')
  await expect(b.page.locator('#order-list')).not.toContainText('Ann')
  await expect(a.page.locator('#balance')).toContainText('15.00')
  await expect(b.page.locator('#balance')).toContainText('20.00')
  await a.context.close()
  await b.context.close()
})

test('a page opened while an order is still NEW shows its final status', async ({ browser }) => {
  const { context, page } = await newShopper(browser, 'wait')
  await openAccountWith(page, '10.00')
  await page.getByRole('link', { name: 'Orders', exact: true }).click()
  const paymentsPid = Number(process.env.GOZON_E2E_PAYMENTS_PID)
  // Freeze payments: the order will wait in the stream.
  process.kill(paymentsPid, 'SIGSTOP')
  try {
    const row = await placeOrder(page, '3.00', 'Slow coffee')
    const order = { id: (await row.getAttribute('id'))!.replace('order-', '') }
    const second = await context.newPage()
    await second.goto(`${base()}/orders/${order.id}`)
    await expect(second.locator(`#order-${order.id} .badge`)).toHaveAttribute('data-status', 'NEW')
    await markPage(second)
    process.kill(paymentsPid, 'SIGCONT')
    await expect(second.locator(`#order-${order.id} .badge`)).toHaveAttribute('data-status', 'FINISHED')
    await expectNotReloaded(second)
  } finally {
    process.kill(paymentsPid, 'SIGCONT')
  }
  await context.close()
})

test('user text is shown as text, never run', async ({ browser }) => {
  const { context, page } = await newShopper(browser, 'mallory')
  let dialogs = 0
  page.on('dialog', async (dialog) => {
    dialogs += 1
    await dialog.dismiss()
  })
  const row = await placeOrder(page, '1.00', '<script>alert(1)</script><img src=x onerror=alert(2)>')
  await expect(row.locator('.description')).toHaveText('<script>alert(1)</script><img src=x onerror=alert(2)>')
  await page.reload()
  await expect(page.locator('#order-list .description').first()).toHaveText('<script>alert(1)</script><img src=x onerror=alert(2)>')
  expect(dialogs).toBe(0)
  await context.close()
})

test('the forms work without JavaScript', async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false })
  const page = await context.newPage()
  await signUp(page, base(), unique('nojs'))
  await page.getByRole('button', { name: 'Open account' }).click()
  await expect(page).toHaveURL(/\/account$/)
  await page.getByLabel('Top up').fill('9.99')
  await page.getByRole('button', { name: 'Add money' }).click()
  await expect(page.locator('#account-balance')).toHaveText('9.99 EUR')
  await page.getByLabel('Top up').fill('nope')
  await page.getByRole('button', { name: 'Add money' }).click()
  await expect(page.locator('#top-up-amount-error')).toBeVisible()
  await page.getByRole('link', { name: 'Orders', exact: true }).click()
  await page.getByLabel('Amount').fill('2.50')
  await page.getByLabel('Description').fill('Plain form')
  await page.getByRole('button', { name: 'Place order' }).click()
  await expect(page).toHaveURL(/\/orders$/)
  await expect(page.locator('#order-list .order', { hasText: 'Plain form' })).toHaveCount(1)
  await context.close()
})

test('signing out and in again with the password; a wrong password is refused', async ({ browser }) => {
  const { context, page, username } = await newShopper(browser, 'back')
  await placeOrder(page, '1.00', 'Before sign-out')
  await page.getByRole('button', { name: 'Sign out' }).click()
  await expect(page).toHaveURL(/\/sign-in$/)
  await page.goto(`${base()}/orders`)
  await expect(page).toHaveURL(/\/sign-in\?next=%2Forders$/)

  await page.getByLabel('User name').fill(username)
  await page.getByLabel('Password').fill('not the password')
  await page.getByRole('button', { name: 'Sign in' }).click()
  await expect(page.getByRole('alert')).toHaveText('Unknown user name or wrong password.')
  await expect(page.getByLabel('Password')).toHaveValue('')

  await page.getByLabel('Password').fill(PASSWORD)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await expect(page).toHaveURL(/\/orders$/)
  await expect(page.locator('#order-list .order', { hasText: 'Before sign-out' })).toHaveCount(1)
  // The session cookie is out of reach of scripts.
  expect(await page.evaluate(() => document.cookie)).toBe('')
  await context.close()
})

test('an order’s link opened signed out leads there after signing in; its times are in the shopper’s zone', async ({ browser }) => {
  const context = await browser.newContext({ timezoneId: 'America/New_York', locale: 'en-US' })
  const page = await context.newPage()
  const username = unique('deep')
  await signUp(page, base(), username)
  await page.getByRole('link', { name: 'Orders', exact: true }).click()
  const row = await placeOrder(page, '3.00', 'Linked order')
  const href = (await row.locator('a.order-main').getAttribute('href'))!
  // Shown in New York time and naming the zone; the UTC the server wrote stays as the title.
  const when = row.locator('time')
  await expect(when).toHaveText(/(EST|EDT|GMT-[45])$/)
  await expect(when).toHaveAttribute('title', /^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/)
  await page.getByRole('button', { name: 'Sign out' }).click()

  await page.goto(`${base()}${href}`)
  await expect(page).toHaveURL(/\/sign-in\?next=/)
  await signIn(page, username)
  await expect(page).toHaveURL(`${base()}${href}`)
  await expect(page.getByRole('heading', { name: 'Order' })).toBeVisible()
  await expect(page.locator('.facts time').first()).toHaveText(/(EST|EDT|GMT-[45])$/)
  expect(await page.locator('main').textContent()).not.toMatch(/\d{4}-\d\d-\d\dT\d\d:/)
  await page.screenshot({ path: 'test-results/e2e/order-detail.png' })
  await context.close()
})

test('120 orders: “Show more” appends the older ones in place until all are shown', async ({ browser }) => {
  const username = unique('many')
  const json = { 'content-type': 'application/json' }
  expect((await fetch(`${base()}/api/auth/users`, { method: 'POST', headers: json, body: JSON.stringify({ username, password: PASSWORD }) })).status).toBe(201)
  const { accessToken } = (await (
    await fetch(`${base()}/api/auth/token`, { method: 'POST', headers: json, body: JSON.stringify({ username, password: PASSWORD }) })
  ).json()) as { accessToken: string }
  for (let i = 0; i < 120; i++) {
    const r = await fetch(`${base()}/api/orders`, {
      method: 'POST',
      headers: { ...json, authorization: `Bearer ${accessToken}` },
      body: JSON.stringify({ amount: 100 + i, description: `order ${i}` }),
    })
    expect(r.status).toBe(201)
  }
  const context = await browser.newContext()
  const page = await context.newPage()
  await signIn(page, username, base())
  await expect(page).toHaveURL(/\/orders$/)
  const rows = page.locator('#order-list .order')
  await expect(rows).toHaveCount(50)
  await markPage(page)
  await page.getByRole('link', { name: 'Show more' }).click()
  await expect(rows).toHaveCount(100)
  await page.getByRole('link', { name: 'Show more' }).click()
  await expect(rows).toHaveCount(120)
  await expect(page.getByRole('link', { name: 'Show more' })).toHaveCount(0)
  await expectNotReloaded(page)
  const descriptions = await page.locator('#order-list .order .description').allInnerTexts()
  expect(new Set(descriptions).size).toBe(120)
  expect(descriptions[0]).toBe('order 119')
  expect(descriptions.at(-1)).toBe('order 0')

  // The statement pages the same way: 60 top-ups, 50 lines, then the other 10 appended as rows of the same table.
  await page.getByRole('link', { name: 'Account', exact: true }).click()
  await page.getByRole('button', { name: 'Open account' }).click()
  for (let i = 1; i <= 60; i++) {
    const r = await fetch(`${base()}/api/payments/account/top-up`, {
      method: 'POST',
      headers: { ...json, authorization: `Bearer ${accessToken}` },
      body: JSON.stringify({ amount: i }),
    })
    expect(r.status).toBe(200)
  }
  await page.reload()
  const lines = page.locator('#statement tbody > tr')
  await expect(lines).toHaveCount(50)
  await page.getByRole('link', { name: 'Show more' }).click()
  await expect(lines).toHaveCount(60)
  await expect(page.getByRole('link', { name: 'Show more' })).toHaveCount(0)
  await page.screenshot({ path: 'test-results/e2e/statement-more.png', fullPage: true })
  await context.close()
})

test('“Sign out everywhere” in one browser sends the other’s open page to sign in, and back after', async ({ browser }) => {
  const { context: laptop, page: here, username } = await newShopper(browser, 'twice')
  const phone = await browser.newContext()
  const there = await phone.newPage()
  await signIn(there, username, base())
  await expect(there).toHaveURL(/\/orders$/)
  await here.getByRole('link', { name: 'Account', exact: true }).click()
  await here.getByRole('button', { name: 'Sign out everywhere' }).click()
  await expect(here.getByRole('status')).toContainText('You are signed out on every browser and device.')
  // The other browser's open page was told over its live socket.
  await expect(there).toHaveURL(/\/sign-in\?next=%2Forders$/)
  await signIn(there, username)
  await expect(there).toHaveURL(/\/orders$/)
  await laptop.close()
  await phone.close()
})

test('a form posted from another site is refused and changes nothing', async ({ browser }) => {
  const { context, page } = await newShopper(browser, 'victim')
  // A page of another origin, served by the browser's router, that submits a form to Gozon.
  const evil = 'http://evil.example'
  await page.route(`${evil}/**`, (route) =>
    route.fulfill({
      contentType: 'text/html',
      body: `<form id="f" method="post" action="${base()}/orders"><input name="amount" value="99.00"><input name="description" value="forged"></form>
             <script>document.getElementById('f').submit()</script>`,
    }),
  )
  await page.goto(`${evil}/win-a-prize`)
  await expect(page.locator('body')).toContainText('Request refused')
  await page.goto(`${base()}/orders`)
  await expect(page.locator('#order-list .order')).toHaveCount(0)
  await context.close()
})

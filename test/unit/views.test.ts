import { describe, expect, test } from 'bun:test'
import { renderBalance, renderStatement } from '../../views/account'
import { html, raw } from '../../views/html'
import { formatMoney, parseMoney } from '../../views/money'
import { type Order, renderOrder, renderOrderCreated } from '../../views/orders'
import { renderAuthForm } from '../../views/sign-in'
import { renderOrderForm } from '../../views/orders'
import { renderAccountPanel } from '../../views/account'

const order: Order = {
  id: '01a20159-4c4b-7527-8180-c65e8ccf556a',
  amount: 123456,
  description: '<script>alert(1)</script> & "quotes"',
  status: 'NEW',
  reason: null,
  createdAt: '2026-11-22T03:42:39.180Z',
  updatedAt: '2026-11-22T03:42:39.180Z',
}

describe('html', () => {
  test('escapes every interpolation unless it is Html', () => {
    expect(html`<p>${'<b>&"\''}</p>`.value).toBe('<p>&lt;b&gt;&amp;&quot;&#39;</p>')
    expect(html`<p>${raw('<b>ok</b>')}</p>`.value).toBe('<p><b>ok</b></p>')
    expect(html`<p>${[html`<i>${'<x>'}</i>`, '<y>']}</p>`.value).toBe('<p><i>&lt;x&gt;</i>&lt;y&gt;</p>')
    expect(html`${null}${undefined}${false}${0}`.value).toBe('0')
  })
})

describe('money', () => {
  test.each([
    [0, '0.00'],
    [5, '0.05'],
    [1250, '12.50'],
    [123456789, '1,234,567.89'],
    [1_000_000_000_000_000, '10,000,000,000,000.00'],
  ])('formats %p as %p', (minor, text) => expect(formatMoney(minor)).toBe(text))

  test.each([
    ['12', 1200],
    ['12.5', 1250],
    ['12.50', 1250],
    [' 1,234.56 ', 123456],
    ['0.01', 1],
    ['10000000000', 1_000_000_000_000],
  ])('parses %p as %p minor units', (text, minor) => expect(parseMoney(text)).toEqual({ ok: true, minor }))

  test.each(['', 'abc', '1.234', '-5', '0', '0.00', '1e3', '10000000000.01', '12.', '.5'])('refuses %p', (text) => {
    expect(parseMoney(text).ok).toBe(false)
  })
})

describe('order fragments', () => {
  test('one render function, a stable id, escaped text, money display', () => {
    const out = renderOrder(order).value
    expect(out).toContain(`id="order-${order.id}"`)
    expect(out).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;')
    expect(out).not.toContain('<script>')
    expect(out).toContain('1,234.56')
    expect(out).toContain('data-status="NEW"')
    expect(out).not.toContain('hx-swap-oob')
  })

  test('a pushed fragment is the same markup, marked out of band', () => {
    const page = renderOrder({ ...order, status: 'FINISHED' }).value
    const pushed = renderOrder({ ...order, status: 'FINISHED' }, { oob: true }).value
    expect(pushed.replace(' hx-swap-oob="true"', '')).toBe(page)
  })

  test('a cancelled order says why', () => {
    const out = renderOrder({ ...order, status: 'CANCELLED', reason: 'insufficient_funds' }).value
    expect(out).toContain('badge-cancelled')
    expect(out).toContain('Not enough money in the account.')
  })

  test('an order added by a form response reads itself again once inserted, only while NEW', () => {
    expect(renderOrderCreated(order, 'token').value).toContain(`hx-get="/orders/${order.id}/row" hx-trigger="load"`)
    expect(renderOrder({ ...order, status: 'FINISHED' }, { refresh: true }).value).not.toContain('hx-trigger')
  })
})

describe('account fragments', () => {
  test('balance in its three states', () => {
    expect(renderBalance(3750).value).toContain('37.50')
    expect(renderBalance(null).value).toContain('No account yet')
    expect(renderBalance(undefined).value).toContain('Balance unavailable')
    for (const b of [3750, null, undefined]) expect(renderBalance(b, { oob: true }).value).toContain('id="balance" ')
  })

  test('statement rows', () => {
    const out = renderStatement([
      { id: 2, kind: 'payment', amount: 1250, orderId: order.id, balanceAfter: 3750, createdAt: order.createdAt },
      { id: 1, kind: 'top_up', amount: 5000, balanceAfter: 5000, createdAt: order.createdAt },
    ]).value
    expect(out).toContain('−12.50')
    expect(out).toContain('+50.00')
    expect(out.indexOf('entry-2')).toBeLessThan(out.indexOf('entry-1'))
  })

  test('the sign-in form keeps and escapes the user name, never the password', () => {
    const out = renderAuthForm('sign-in', { values: { username: '"><script>', password: 'secret-pw' }, errors: { username: 'bad' } }).value
    expect(out).toContain('value="&quot;&gt;&lt;script&gt;"')
    expect(out).toContain('aria-invalid="true"')
    expect(out).not.toContain('secret-pw')
    expect(out).toContain('autocomplete="current-password"')
    expect(renderAuthForm('sign-up').value).toContain('autocomplete="new-password"')
  })

  test('every form that changes something carries the CSRF token', () => {
    const csrf = 'csrf-&-token'
    const forms = [
      renderOrderForm(csrf).value,
      renderAccountPanel({ state: 'missing', csrf }).value,
      renderAccountPanel({ state: 'open', csrf, balance: 0, statement: [] }).value,
    ]
    for (const form of forms) expect(form).toContain('<input type="hidden" name="csrfToken" value="csrf-&amp;-token">')
  })
})

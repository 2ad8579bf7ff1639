import { describe, expect, test } from 'bun:test'
import { keyAfter, type Outcome, outcomeMessage, outcomeOf, safeNext } from '../../gateway/forms'
import type { ErrorBody, ErrorCode } from '../../shared/errors'
import type { OperationsReport } from '../../shared/operations'
import { renderAccountPanel, renderBalance, renderStatement, renderTopUpForm } from '../../views/account'
import { ORDER_INTENT, TOP_UP_INTENT } from '../../views/form-fields'
import { html, raw } from '../../views/html'
import { layout } from '../../views/layout'
import { Currency, currencyProblem, formatFigures } from '../../views/money'
import { renderOperations } from '../../views/operations'
import { type Order, renderOrder, renderOrderCreated, renderOrderDetail, renderOrderForm } from '../../views/orders'
import { renderAuthForm } from '../../views/sign-in'
import { utcText } from '../../views/time'

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

const eur = new Currency('EUR')

describe('money', () => {
  test.each([
    [0, '0.00 EUR'],
    [5, '0.05 EUR'],
    [1250, '12.50 EUR'],
    [123456789, '1,234,567.89 EUR'],
    [1_000_000_000_000_000, '10,000,000,000,000.00 EUR'],
  ])('formats %p as %p', (minor, text) => expect(eur.format(minor)).toBe(text))

  test('formats in the configured currency', () => {
    expect(new Currency('USD').format(1250)).toBe('12.50 USD')
    expect(formatFigures(-1250)).toBe('-12.50')
  })

  // Every input is either read exactly as meant (minor units) or refused with why (a piece of the message).
  const NBSP = '\u00a0'
  const NARROW_NBSP = '\u202f'
  const THIN = '\u2009'
  test.each<[string, number | string]>([
    ['12.50', 1250],
    ['12,50', 1250],
    ['12', 1200],
    ['12.5', 1250],
    ['12,5', 1250],
    [' 12.50 ', 1250],
    [`${NBSP}12.50${NBSP}`, 1250],
    ['1,250.00', 125000],
    ['1 250,00', 125000],
    [`1${NBSP}250,00`, 125000],
    [`1${NARROW_NBSP}250,00`, 125000],
    [`1${THIN}250.00`, 125000],
    ['1.250,00', 125000],
    ['1,250,000', 125000000],
    ['1.250.000', 125000000],
    ['1 250 000', 125000000],
    ['1.250.000,5', 125000050],
    ['1,234.56', 123456],
    ['0.01', 1],
    ['0,5', 50],
    ['007', 700],
    ['€12.50', 1250],
    ['€ 12.50', 1250],
    ['12.50€', 1250],
    ['12,50 €', 1250],
    ['12.50 EUR', 1250],
    [`12,50${NBSP}EUR`, 1250],
    ['eur 12.50', 1250],
    ['EUR1,250.00', 125000],
    ['10000000000', 1_000_000_000_000],
    ['10,000,000,000.00', 1_000_000_000_000],
    ['12.505', 'Unclear: is that 12505 or 12.505? For 12505, write it without a separator; amounts have at most two decimals.'],
    ['0,001', 'At most two decimals, like 12.50.'],
    ['1,250', 'Unclear: is that 1250 or 1,250? For 1250, write it without a separator; amounts have at most two decimals.'],
    ['1.000', 'Unclear: is that 1000 or 1.000?'],
    ['12.5050', 'At most two decimals'],
    ['1,250.505', 'At most two decimals'],
    ['1 250.505', 'At most two decimals'],
    ['1.250,000', 'At most two decimals'],
    ['-1', 'The amount must be more than 0.00 EUR.'],
    ['−1', 'more than 0.00 EUR'],
    ['€-5', 'more than 0.00 EUR'],
    ['0', 'more than 0.00 EUR'],
    ['0.00', 'more than 0.00 EUR'],
    ['1e3', 'Enter the amount in digits, like 12.50.'],
    ['', 'Enter an amount.'],
    ['   ', 'Enter an amount.'],
    ['abc', 'in digits'],
    ['12abc', 'in digits'],
    ['twelve', 'in digits'],
    ['１２.５０', 'in digits'],
    ['+12', 'in digits'],
    ['0x10', 'in digits'],
    ['12\t500', 'in digits'],
    ['10000000000.01', 'The amount can be at most 10,000,000,000.00 EUR.'],
    ['10,000,000,000.01', 'at most 10,000,000,000.00 EUR'],
    ['9'.repeat(40), 'at most 10,000,000,000.00 EUR'],
    ['$12.50', 'Amounts are in EUR'],
    ['£5', 'Amounts are in EUR'],
    ['12 USD', 'Amounts are in EUR'],
    ['US$12', 'Amounts are in EUR'],
    ['12.', 'Write the cents after the separator'],
    ['.5', 'Put a digit before the decimal separator'],
    ['12..5', 'one separator at a time'],
    ['1,,250', 'one separator at a time'],
    ['12 50', 'Group the digits in threes'],
    ['1,25,000', 'Group the digits in threes'],
    ['1,2', 120],
    ['1,250.000.00', 'one decimal separator'],
    ['1 250.000,00', 'one kind of thousands separator'],
  ])('reads %p as %p', (input, expected) => {
    const parsed = eur.parse(input)
    if (typeof expected === 'number') expect(parsed).toEqual({ ok: true, minor: expected })
    else {
      expect(parsed.ok).toBe(false)
      if (!parsed.ok) expect(parsed.error).toContain(expected)
    }
  })

  test('reads the configured currency’s sign and code, refuses the others', () => {
    const usd = new Currency('USD')
    expect(usd.parse('$12.50')).toEqual({ ok: true, minor: 1250 })
    expect(usd.parse('12.50 usd')).toEqual({ ok: true, minor: 1250 })
    expect(usd.parse('€12.50')).toEqual({ ok: false, error: 'Amounts are in USD: enter the amount without €, like 12.50 or 12.50 USD.' })
    expect(new Currency('CAD').parse('CA$12')).toEqual({ ok: true, minor: 1200 })
    expect(new Currency('CAD').parse('$12').ok).toBe(false)
  })

  test('only ISO 4217 currencies with two decimals', () => {
    for (const code of ['EUR', 'USD', 'GBP', 'CHF']) expect(currencyProblem(code)).toBeUndefined()
    expect(currencyProblem('JPY')).toContain('two decimals')
    expect(currencyProblem('BHD')).toContain('two decimals')
    for (const code of ['eur', 'XYZ', 'EURO', '']) expect(currencyProblem(code)).toContain('ISO 4217')
    expect(() => new Currency('JPY')).toThrow('two decimals')
  })
})

describe('order fragments', () => {
  test('one render function, a stable id, escaped text, money display', () => {
    const out = renderOrder(order, eur).value
    expect(out).toContain(`id="order-${order.id}"`)
    expect(out).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;')
    expect(out).not.toContain('<script>')
    expect(out).toContain('1,234.56 EUR')
    expect(out).toContain('data-status="NEW"')
    expect(out).not.toContain('hx-swap-oob')
  })

  test('a pushed fragment is the same markup, marked out of band', () => {
    const page = renderOrder({ ...order, status: 'FINISHED' }, eur).value
    const pushed = renderOrder({ ...order, status: 'FINISHED' }, eur, { oob: true }).value
    expect(pushed.replace(' hx-swap-oob="true"', '')).toBe(page)
  })

  test('a cancelled order says why', () => {
    const out = renderOrder({ ...order, status: 'CANCELLED', reason: 'insufficient_funds' }, eur).value
    expect(out).toContain('badge-cancelled')
    expect(out).toContain('Not enough money in the account.')
  })

  test('an order added by a form response reads itself again once inserted, only while NEW', () => {
    expect(renderOrderCreated(order, 'token', eur).value).toContain(`hx-get="/orders/${order.id}/row" hx-trigger="load, every 3s"`)
    expect(renderOrder({ ...order, status: 'FINISHED' }, eur, { refresh: true }).value).not.toContain('hx-trigger')
  })
})

describe('account fragments', () => {
  test('balance in its three states', () => {
    expect(renderBalance(3750, eur).value).toContain('37.50 EUR')
    expect(renderBalance(null, eur).value).toContain('No account yet')
    expect(renderBalance(undefined, eur).value).toContain('Balance unavailable')
    for (const b of [3750, null, undefined]) expect(renderBalance(b, eur, { oob: true }).value).toContain('id="balance" ')
  })

  test('statement rows', () => {
    const out = renderStatement(
      [
        { id: 2, kind: 'payment', amount: 1250, orderId: order.id, balanceAfter: 3750, createdAt: order.createdAt },
        { id: 1, kind: 'top_up', amount: 5000, balanceAfter: 5000, createdAt: order.createdAt },
      ],
      eur,
    ).value
    expect(out).toContain('−12.50 EUR')
    expect(out).toContain('+50.00 EUR')
    expect(out).toContain('37.50 EUR')
    expect(out.indexOf('entry-2')).toBeLessThan(out.indexOf('entry-1'))
  })

  test('a statement that could not be read says so, with a retry, and is never shown as empty', () => {
    const out = renderAccountPanel({ state: 'open', csrf: 't', currency: eur, balance: 4200, statement: undefined }).value
    expect(out).toContain('42.00 EUR')
    expect(out).toContain('The statement could not be loaded just now. <a href="/account">Try again</a>')
    expect(out).not.toContain('<table')
    expect(renderAccountPanel({ state: 'open', csrf: 't', currency: eur, balance: 0, statement: [] }).value).not.toContain('could not be loaded')
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
      renderOrderForm(csrf, eur).value,
      renderAccountPanel({ state: 'missing', csrf }).value,
      renderAccountPanel({ state: 'open', csrf, currency: eur, balance: 0, statement: [] }).value,
      renderAccountPanel({ state: 'unavailable', csrf, currency: eur, message: 'down', form: {} }).value,
    ]
    for (const form of forms) expect(form).toContain('<input type="hidden" name="csrfToken" value="csrf-&amp;-token">')
  })
})

describe('times', () => {
  test('written in UTC and labelled so, never as a raw ISO string; the browser rewrites them into its zone', () => {
    expect(utcText('2026-12-01T17:03:27.123Z')).toBe('2026-12-01 17:03 UTC')
    expect(utcText('not a time')).toBe('not a time')
    const detail = renderOrderDetail({ ...order, status: 'FINISHED', updatedAt: '2026-12-01T17:04:00.000Z' }, eur).value
    const text = detail.replace(/<[^>]+>/g, ' ')
    expect(text).not.toMatch(/\d{4}-\d\d-\d\dT/)
    expect(detail).toContain(`datetime="${order.createdAt}" data-local>${utcText(order.createdAt)}</time>`)
    expect(detail).toContain('<dt>Paid</dt><dd><time datetime="2026-12-01T17:04:00.000Z" data-local>2026-12-01 17:04 UTC</time></dd>')
  })
})

describe('where to go after signing in', () => {
  test('a path of this shop only', () => {
    expect(safeNext('/orders/abc?x=1')).toBe('/orders/abc?x=1')
    for (const value of [
      '//evil.example',
      '/\\evil.example',
      'https://evil.example',
      'evil',
      '/sign-out',
      '/a\nb',
      42,
      undefined,
      `/${'a'.repeat(600)}`,
      '/.//evil.example',
      '/..//evil.example',
      '/a/..//evil.example',
      '/%2e//evil.example',
    ]) {
      expect(safeNext(value)).toBeUndefined()
    }
  })
})

describe('currency everywhere', () => {
  test('amounts, labels and the top bar carry the configured code', () => {
    const usd = new Currency('USD')
    expect(renderOrder(order, usd).value).toContain('1,234.56 USD')
    expect(renderOrderDetail(order, usd).value).toContain('1,234.56 USD')
    expect(renderOrderForm('t', usd).value).toContain('Amount (USD)')
    expect(renderTopUpForm('t', usd).value).toContain('Top up (USD)')
    const panel = renderAccountPanel({ state: 'open', csrf: 't', currency: usd, balance: 2500, statement: [] }).value
    expect(panel).toContain('<strong id="account-balance">25.00 USD</strong>')
    const page = layout({ title: 'x', shopper: { username: 'u', csrf: 't' }, currency: usd, balance: 999, body: html`` }).value
    expect(page).toContain('9.99 USD')
  })
})

describe('a money form’s Idempotency-Key follows the shopper’s intent', () => {
  const keyOf = (markup: string) => /name="idempotencyKey" value="([^"]+)"/.exec(markup)?.[1]
  const submitted = 'key-of-the-first-press'

  test('the forms render the key they are given, else a fresh one each time', () => {
    expect(keyOf(renderOrderForm('t', eur, { idempotencyKey: submitted }).value)).toBe(submitted)
    expect(keyOf(renderTopUpForm('t', eur, { idempotencyKey: submitted }).value)).toBe(submitted)
    const a = keyOf(renderOrderForm('t', eur).value)
    const b = keyOf(renderOrderForm('t', eur).value)
    expect(a).toMatch(/^[0-9a-f-]{36}$/)
    expect(a).not.toBe(b)
    // After a success: a fresh form for the next order.
    expect(keyOf(renderOrderCreated(order, 't', eur).value)).not.toBe(submitted)
  })

  const noAnswer = { ok: false, status: 502, error: undefined }
  const fail = (status: number, error: ErrorCode) => ({ ok: false, status, error: { error, message: `${error} message` } })
  test.each<[string, { ok: boolean; status: number; error?: ErrorBody }, string, boolean]>([
    ['a success', { ok: true, status: 201 }, 'done', false],
    ['no answer (timeout, network error)', noAnswer, 'unknown', true],
    ['a 500', fail(500, 'internal_error'), 'unknown', true],
    ['a 503', fail(503, 'service_unavailable'), 'unknown', true],
    ['a 502 with a body', fail(502, 'internal_error'), 'unknown', true],
    ['409 in flight', fail(409, 'idempotency_key_in_flight'), 'in_flight', true],
    ['409 claim lost to a retry', fail(409, 'idempotency_claim_lost'), 'unknown', true],
    ['422 key reused with other values', fail(422, 'idempotency_key_reused'), 'reused', false],
    ['422 balance limit', fail(422, 'balance_limit_exceeded'), 'refused', false],
    ['422 validation', fail(422, 'validation_failed'), 'refused', false],
    ['404 no account', fail(404, 'account_not_found'), 'refused', false],
    ['429 rate limited', fail(429, 'rate_limited'), 'refused', false],
  ])('after %s', (_, result, outcome, keeps) => {
    expect(outcomeOf(result)).toBe(outcome as Outcome)
    expect(keyAfter(outcomeOf(result), submitted)).toBe(keeps ? submitted : undefined)
  })

  test('the gateway’s own field errors send nothing: the key stays; without a usable key there is none to keep', () => {
    expect(keyAfter('not_sent', submitted)).toBe(submitted)
    expect(keyAfter('unknown', undefined)).toBeUndefined()
  })

  test('after an unknown outcome the message never says nothing changed, and says pressing again is safe', () => {
    const timeout = outcomeMessage(ORDER_INTENT, { status: 502, unanswered: 'timeout' })
    expect(timeout).toBe(
      'We could not confirm your order yet: the orders service did not answer in time. Pressing “Place order” again is safe: it will not order or pay twice.',
    )
    expect(outcomeMessage(TOP_UP_INTENT, { status: 502, unanswered: 'unreachable' })).toBe(
      'We could not confirm your top-up yet: the payments service could not be reached. Pressing “Add money” again is safe: it will not add the money twice.',
    )
    const failed = fail(503, 'service_unavailable')
    expect(outcomeMessage(TOP_UP_INTENT, failed)).toContain('not confirm your top-up yet')
    expect(outcomeMessage(ORDER_INTENT, fail(409, 'idempotency_key_in_flight'))).toContain('still being processed')
    expect(outcomeMessage(ORDER_INTENT, fail(409, 'idempotency_key_in_flight'))).toContain('again in a moment: it is safe')
    expect(outcomeMessage(ORDER_INTENT, fail(422, 'idempotency_key_reused'))).toContain('may have gone through: check your orders')
    expect(outcomeMessage(TOP_UP_INTENT, fail(422, 'idempotency_key_reused'))).toContain('check your statement')
    expect(outcomeMessage(TOP_UP_INTENT, fail(422, 'balance_limit_exceeded'), () => 'in money')).toBe('in money')
    for (const m of [timeout, outcomeMessage(ORDER_INTENT, failed)]) expect(m).not.toMatch(/nothing (was )?changed/i)
  })
})

describe('the operations page', () => {
  const report = (givenUp?: OperationsReport['givenUp']): OperationsReport => ({
    service: 'orders',
    outbox: { pending: 0, oldestPendingAgeSeconds: 0 },
    consumer: { stream: 'S', durable: 'd', pending: 0, ackPending: 0, redelivered: 0 },
    deadLetters: { count: 0, latest: [] },
    ...(givenUp ? { givenUp } : {}),
  })

  test('lists the orders the sweeper gave up on, with their asks', () => {
    const orderId = crypto.randomUUID()
    const page = renderOperations(
      {
        orders: report({ count: 1, latest: [{ orderId, asks: 8, createdAt: '2026-12-01T08:00:00.000Z', gaveUpAt: '2026-12-01T08:20:00.000Z' }] }),
      },
      eur,
    ).value
    expect(page).toContain('<span class="num" data-metric="given-up">1</span>')
    expect(page).toContain(`<td><code>${orderId}</code></td>`)
    expect(page).toMatch(/<td class="num">8<\/td>/)
  })

  test('says nothing about given-up orders for a service that has none to report', () => {
    expect(renderOperations({ payments: report() }, eur).value).not.toContain('given-up')
  })
})

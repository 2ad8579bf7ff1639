// Money as people read and type it, in the one currency the shop is
// configured with (gateway/config.ts CURRENCY): integer minor units to
// "1,234.56 EUR" and back. Integer and BigInt arithmetic only; no floating
// point touches an amount. The parser never drops a character silently: an
// input is read exactly as a person meant it, or refused with a reason.
import { MAX_AMOUNT } from '../shared/money'

const group = new Intl.NumberFormat('en-US')

/** The figures alone, "1,234.56" (two decimals, comma thousands): what Currency.format puts next to the code. */
export function formatFigures(minor: number): string {
  const sign = minor < 0 ? '-' : ''
  const abs = Math.abs(minor)
  const units = Math.floor(abs / 100)
  const cents = abs % 100
  return `${sign}${group.format(units)}.${String(cents).padStart(2, '0')}`
}

export type ParsedMoney = { ok: true; minor: number } | { ok: false; error: string }

/** The ISO 4217 codes this runtime knows. */
const CURRENCIES = new Set(Intl.supportedValuesOf('currency'))

/** Why a currency code cannot be the shop's, or undefined when it can (ISO 4217, two decimals). */
export function currencyProblem(code: string): string | undefined {
  if (!/^[A-Z]{3}$/.test(code) || !CURRENCIES.has(code)) {
    return `must be an ISO 4217 currency code in capitals, like EUR or USD, got "${code}"`
  }
  const digits = new Intl.NumberFormat('en', { style: 'currency', currency: code }).resolvedOptions().maximumFractionDigits
  if (digits !== 2) return `must be a currency with two decimals (amounts are kept in hundredths); ${code} has ${digits}`
  return undefined
}

// Spaces people put between groups of thousands: space, no-break space, narrow no-break space, thin space.
const GROUP_SPACES = ' \u00a0\u202f\u2009'
const isGroupSpace = (c: string) => GROUP_SPACES.includes(c)
// A currency written before or after the figures: a sign (€, $, CA$, US$) or three letters (EUR, eur).
const AFFIX = String.raw`\p{L}{0,3}\p{Sc}|\p{L}{3}`
const PREFIX = new RegExp(String.raw`^(${AFFIX})\s*`, 'u')
const SUFFIX = new RegExp(String.raw`\s*(${AFFIX})$`, 'u')
const MINUS = /^[-\u2212]\s*/
const DIGITS_HINT = 'Enter the amount in digits, like 12.50.'

/** The shop's currency: formats minor units with its code and reads amounts typed in it. */
export class Currency {
  /** The currency's sign in English text ("€" for EUR, "$" for USD, "CA$" for CAD). */
  readonly symbol: string

  constructor(readonly code: string) {
    const problem = currencyProblem(code)
    if (problem) throw new Error(`The currency ${problem}`)
    const parts = new Intl.NumberFormat('en', { style: 'currency', currency: code }).formatToParts(1)
    this.symbol = parts.find((p) => p.type === 'currency')?.value ?? code
  }

  /** "1,234.56 EUR". */
  format(minor: number): string {
    return `${formatFigures(minor)} ${this.code}`
  }

  /**
   * Reads an amount as people type it: "12.50", "12,50", "12", "1,250.00",
   * "1 250,00", "1.250,00", "€12.50", "12.50 EUR"; into minor units, from 1
   * to MAX_AMOUNT. Anything it cannot read for certain is refused with why.
   */
  parse(input: string): ParsedMoney {
    const refuse = (error: string): ParsedMoney => ({ ok: false, error })
    let text = input.trim()
    if (text === '') return refuse('Enter an amount.')
    let negative = false
    const sign = () => {
      const minus = MINUS.exec(text)
      if (minus) {
        negative = true
        text = text.slice(minus[0].length)
      }
    }
    sign()
    const prefix = PREFIX.exec(text)
    if (prefix) text = text.slice(prefix[0].length)
    sign()
    const suffix = prefix ? undefined : SUFFIX.exec(text)
    if (suffix) text = text.slice(0, text.length - suffix[0].length)
    const affix = prefix?.[1] ?? suffix?.[1]
    if (affix !== undefined) {
      const problem = this.affixProblem(affix)
      if (problem) return refuse(problem)
    }
    if (text === '' || !/^[0-9.,\s]+$/u.test(text)) return refuse(DIGITS_HINT)
    const figures = readFigures(text)
    if (!figures.ok) return refuse(figures.error)
    const minor = BigInt(figures.units) * 100n + BigInt(figures.cents.padEnd(2, '0'))
    if (negative || minor === 0n) return refuse(`The amount must be more than ${this.format(0)}.`)
    if (minor > BigInt(MAX_AMOUNT)) return refuse(`The amount can be at most ${this.format(MAX_AMOUNT)}.`)
    return { ok: true, minor: Number(minor) }
  }

  private affixProblem(affix: string): string | undefined {
    if (affix.toUpperCase() === this.code || affix === this.symbol) return undefined
    const isCode = /^\p{L}{3}$/u.test(affix)
    if (isCode && !CURRENCIES.has(affix.toUpperCase())) return DIGITS_HINT
    return `Amounts are in ${this.code}: enter the amount without ${affix}, like 12.50 or 12.50 ${this.code}.`
  }
}

type Figures = { ok: true; units: string; cents: string } | { ok: false; error: string }

/** Digits with at most one kind of group separator and at most one decimal separator. */
function readFigures(text: string): Figures {
  const refuse = (error: string): Figures => ({ ok: false, error })
  // Runs of digits and the single separators between them.
  const tokens = text.match(/[0-9]+|./gsu) ?? []
  const digits = tokens.filter((_, i) => i % 2 === 0)
  const separators = tokens.filter((_, i) => i % 2 === 1)
  const wellFormed = tokens.length % 2 === 1 && digits.every((d) => /^[0-9]+$/.test(d)) && separators.every((s) => /^[.,\s]$/u.test(s))
  if (!wellFormed) {
    if (/^[.,]/.test(text)) return refuse('Put a digit before the decimal separator, like 0.50.')
    if (/[.,]$/.test(text)) return refuse('Write the cents after the separator, like 12.50, or leave the separator out.')
    return refuse('Use one separator at a time, like 1,250.00 or 1 250,00.')
  }
  if (separators.some((s) => /\s/u.test(s) && !isGroupSpace(s))) return refuse(DIGITS_HINT)
  const marks = separators.map((s) => (isGroupSpace(s) ? ' ' : s))
  const dots = marks.filter((s) => s === '.').length
  const commas = marks.filter((s) => s === ',').length
  const spaces = marks.filter((s) => s === ' ').length

  // Which separator, if any, starts the decimals.
  let decimal: '.' | ',' | undefined
  if (dots > 0 && commas > 0) {
    decimal = marks.lastIndexOf('.') > marks.lastIndexOf(',') ? '.' : ','
    if ((decimal === '.' ? dots : commas) > 1) return refuse('Use one decimal separator, like 1,250.00 or 1.250,00.')
  } else if (dots + commas === 1) {
    const mark = dots === 1 ? '.' : ','
    const after = digits[marks.indexOf(mark) + 1] ?? ''
    if (marks.indexOf(mark) !== marks.length - 1) return refuse('Put spaces only between groups of thousands, like 1 250,00.')
    if (after.length === 3 && spaces === 0) {
      const before = digits.slice(0, -1).join('')
      // 0,001 cannot be a thousands group: it is just too many decimals.
      if (/^0*$/.test(before)) return refuse('At most two decimals, like 12.50.')
      const whole = (before + after).replace(/^0+(?=\d)/, '')
      return refuse(`Unclear: is that ${whole} or ${before}${mark}${after}? For ${whole}, write it without a separator; amounts have at most two decimals.`)
    }
    decimal = mark
  }
  let units: string[] = digits
  let cents = ''
  let grouping = marks
  if (decimal !== undefined) {
    if (marks[marks.length - 1] !== decimal) return refuse('Put the decimal separator last, like 1,250.00 or 1.250,00.')
    cents = digits[digits.length - 1] ?? ''
    if (cents.length > 2) return refuse('At most two decimals, like 12.50.')
    units = digits.slice(0, -1)
    grouping = marks.slice(0, -1)
  }
  if (grouping.length > 0) {
    if (new Set(grouping).size > 1) return refuse('Use one kind of thousands separator, like 1,250,000.00 or 1 250 000,00.')
    const [first, ...rest] = units
    if (!first || first.length > 3 || rest.some((g) => g.length !== 3)) {
      return refuse(`Group the digits in threes, like 1${grouping[0]}250${grouping[0]}000, or leave the separators out.`)
    }
  }
  return { ok: true, units: units.join(''), cents }
}

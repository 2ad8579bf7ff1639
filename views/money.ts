// Money as people read and type it: "1,234.56" from and to integer minor units.
// Integer arithmetic only; no floating point touches an amount.
import { MAX_AMOUNT } from '../shared/money'

const group = new Intl.NumberFormat('en-US')

export function formatMoney(minor: number): string {
  const sign = minor < 0 ? '-' : ''
  const abs = Math.abs(minor)
  const units = Math.floor(abs / 100)
  const cents = abs % 100
  return `${sign}${group.format(units)}.${String(cents).padStart(2, '0')}`
}

export type ParsedMoney = { ok: true; minor: number } | { ok: false; error: string }

/** Parses "12", "12.3", "12.34", "1,234.50" (at most two decimals) into minor units. */
export function parseMoney(input: string): ParsedMoney {
  const text = input.trim().replaceAll(',', '')
  if (text === '') return { ok: false, error: 'Enter an amount.' }
  const match = /^(\d{1,13})(?:\.(\d{1,2}))?$/.exec(text)
  if (!match) return { ok: false, error: 'Enter an amount like 12.50 (at most two decimals).' }
  const minor = Number(match[1]) * 100 + Number((match[2] ?? '').padEnd(2, '0'))
  if (minor <= 0) return { ok: false, error: 'The amount must be more than 0.00.' }
  if (minor > MAX_AMOUNT) return { ok: false, error: `The amount can be at most ${formatMoney(MAX_AMOUNT)}.` }
  return { ok: true, minor }
}

// Money is integer minor units (cents). JSON carries safe integers; the
// database stores bigint with CHECK constraints mirroring these limits.
import { Type } from '@sinclair/typebox'

/** Largest single order or top-up: 10^12 minor units. */
export const MAX_AMOUNT = 1_000_000_000_000
/** Largest balance an account may hold: 10^15 minor units (< 2^53, so exact in JSON). */
export const MAX_BALANCE = 1_000_000_000_000_000

/** Strict schema: a JSON integer, never a numeric string, from 1 to MAX_AMOUNT. */
export const Amount = Type.Integer({
  minimum: 1,
  maximum: MAX_AMOUNT,
  description: 'Amount in minor units (for example cents), a positive integer',
})

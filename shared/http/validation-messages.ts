// What a person reads when a request does not fit its schema: the product's
// own words, one line per field, never the schema library's ("Expected string
// length less or equal to 1024"). Lengths are in characters: Unicode code
// points, as PostgreSQL's varchar counts them and as a person does (an emoji
// is one character), the same in the API, the pages and the database.
import { ValueErrorType } from '@sinclair/typebox/errors'

/** A string schema may word its own problem with its content (pattern, length), shown instead of the generic line. */
export const PROBLEM_KEYWORD = 'x-problem'

type Problem = { type: number; schema: Record<string, unknown> }

const CONTENT_PROBLEMS = new Set<number>([
  ValueErrorType.StringPattern,
  ValueErrorType.StringMaxLength,
  ValueErrorType.StringMinLength,
  ValueErrorType.StringFormat,
])

const n = (value: unknown) => (typeof value === 'number' ? value.toLocaleString('en-US') : String(value))

type Wording = (schema: Record<string, unknown>) => string
const at =
  (text: string): Wording =>
  () =>
    text
const RANGE: [number[], Wording][] = [
  [[ValueErrorType.IntegerMinimum, ValueErrorType.NumberMinimum], (s) => `Must be at least ${n(s.minimum)}.`],
  [[ValueErrorType.IntegerMaximum, ValueErrorType.NumberMaximum], (s) => `Must be at most ${n(s.maximum)}.`],
  [[ValueErrorType.IntegerExclusiveMinimum, ValueErrorType.NumberExclusiveMinimum], (s) => `Must be more than ${n(s.exclusiveMinimum)}.`],
  [[ValueErrorType.IntegerExclusiveMaximum, ValueErrorType.NumberExclusiveMaximum], (s) => `Must be less than ${n(s.exclusiveMaximum)}.`],
  [[ValueErrorType.StringPattern, ValueErrorType.StringFormat], at('Not in the expected format.')],
  [[ValueErrorType.Literal, ValueErrorType.Union], at('Not one of the allowed values.')],
]

/** Each kind of problem in the product's words. */
const WORDING = new Map<number, Wording>([
  [ValueErrorType.ObjectRequiredProperty, at('This field is required.')],
  [ValueErrorType.ObjectAdditionalProperties, at('This field is not part of the request; remove it.')],
  [ValueErrorType.Object, at('Send a JSON object.')],
  [ValueErrorType.String, at('Must be text (a JSON string).')],
  [ValueErrorType.StringMinLength, (s) => `Use at least ${n(s.minLength)} characters.`],
  [ValueErrorType.StringMaxLength, (s) => `Use at most ${n(s.maxLength)} characters.`],
  [ValueErrorType.Integer, at('Must be a whole number (a JSON number without a fraction).')],
  [ValueErrorType.Number, at('Must be a number.')],
  [ValueErrorType.Boolean, at('Must be true or false.')],
  [ValueErrorType.Array, at('Send a JSON array.')],
  ...RANGE.flatMap(([types, wording]) => types.map((type) => [type, wording] as [number, Wording])),
])

/** A number read from a query string: Elysia checks it against "an integer, or text that is one". */
const isCoercedInteger = (schema: Record<string, unknown>) =>
  Array.isArray(schema.anyOf) && schema.anyOf.some((member: { type?: unknown }) => member.type === 'integer')

export function problemMessage(problem: Problem): string {
  const { schema } = problem
  const own = schema[PROBLEM_KEYWORD]
  if (typeof own === 'string' && CONTENT_PROBLEMS.has(problem.type)) return own
  if (problem.type === ValueErrorType.Union && isCoercedInteger(schema)) return 'Must be a whole number.'
  return WORDING.get(problem.type)?.(schema) ?? 'Not valid here.'
}

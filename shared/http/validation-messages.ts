// What a person reads when a request does not fit its schema: the product's
// own words, one line per field, never the schema library's ("Expected string
// length less or equal to 1024"). Lengths are in characters: Unicode code
// points, as PostgreSQL's varchar counts them and as a person does (an emoji
// is one character), the same in the API, the pages and the database.
import { ValueErrorType } from '@sinclair/typebox/errors'

/** A string schema may word its own problem with its content (pattern, length), shown instead of the generic line. */
export const PROBLEM_KEYWORD = 'x-problem'

type Problem = { type: number; schema: Record<string, unknown> }

const CONTENT_PROBLEMS = new Set<number>([ValueErrorType.StringPattern, ValueErrorType.StringMaxLength, ValueErrorType.StringMinLength, ValueErrorType.StringFormat])

const n = (value: unknown) => (typeof value === 'number' ? value.toLocaleString('en-US') : String(value))

export function problemMessage(problem: Problem): string {
  const { schema } = problem
  const own = schema[PROBLEM_KEYWORD]
  if (typeof own === 'string' && CONTENT_PROBLEMS.has(problem.type)) return own
  switch (problem.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return 'This field is required.'
    case ValueErrorType.ObjectAdditionalProperties:
      return 'This field is not part of the request; remove it.'
    case ValueErrorType.Object:
      return 'Send a JSON object.'
    case ValueErrorType.String:
      return 'Must be text (a JSON string).'
    case ValueErrorType.StringMinLength:
      return `Use at least ${n(schema.minLength)} characters.`
    case ValueErrorType.StringMaxLength:
      return `Use at most ${n(schema.maxLength)} characters.`
    case ValueErrorType.StringPattern:
    case ValueErrorType.StringFormat:
      return 'Not in the expected format.'
    case ValueErrorType.Integer:
      return 'Must be a whole number (a JSON number without a fraction).'
    case ValueErrorType.Number:
      return 'Must be a number.'
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum:
      return `Must be at least ${n(schema.minimum)}.`
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMaximum:
      return `Must be at most ${n(schema.maximum)}.`
    case ValueErrorType.IntegerExclusiveMinimum:
    case ValueErrorType.NumberExclusiveMinimum:
      return `Must be more than ${n(schema.exclusiveMinimum)}.`
    case ValueErrorType.IntegerExclusiveMaximum:
    case ValueErrorType.NumberExclusiveMaximum:
      return `Must be less than ${n(schema.exclusiveMaximum)}.`
    case ValueErrorType.Literal:
    case ValueErrorType.Union:
      return 'Not one of the allowed values.'
    case ValueErrorType.Boolean:
      return 'Must be true or false.'
    case ValueErrorType.Array:
      return 'Send a JSON array.'
    default:
      return 'Not valid here.'
  }
}

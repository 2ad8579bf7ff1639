// The messaging contract between orders and payments: every stream, subject,
// message schema and message-id rule lives here, imported by publisher and
// consumer alike, so the two sides cannot drift apart.
import { type Static, type TSchema, Type } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { USER_ID_PATTERN } from '../identity'
import { Amount } from '../money'

export const SUBJECTS = {
  /** orders → payments: charge this order (a command). */
  paymentRequested: 'gozon.payments.requested',
  /** payments → orders: the order was charged (an event). */
  paymentSucceeded: 'gozon.payments.succeeded',
  /** payments → orders: the order could not be charged (an event). */
  paymentFailed: 'gozon.payments.failed',
  /** orders → gateways (core NATS, after commit): an order reached a final status. */
  orderStatusChanged: 'gozon.orders.status-changed',
  /** gateway → gateways (core NATS, after the delete): these page sessions ended; forget them now (gateway/auth/sessions.ts). */
  sessionsEnded: 'gozon.gateway.sessions-ended',
} as const

/**
 * JetStream streams; file storage. Each is declared and configured only by its
 * owner, the service that publishes to it; the consuming service only checks
 * that it exists (shared/messaging/nats.ts).
 */
export const STREAMS = {
  paymentRequests: { name: 'GOZON_PAYMENT_REQUESTS', subjects: [SUBJECTS.paymentRequested], owner: 'orders' },
  paymentResults: { name: 'GOZON_PAYMENT_RESULTS', subjects: [SUBJECTS.paymentSucceeded, SUBJECTS.paymentFailed], owner: 'payments' },
} as const

export type StreamOwner = (typeof STREAMS)[keyof typeof STREAMS]['owner']

/** Durable pull consumers, one per consuming service (instances share it). */
export const CONSUMERS = {
  payments: { stream: STREAMS.paymentRequests.name, durable: 'payments-service' },
  orders: { stream: STREAMS.paymentResults.name, durable: 'orders-service' },
} as const

/** Header carrying the id of the HTTP request that started it all. */
export const REQUEST_ID_HEADER = 'Gozon-Request-Id'
/** The W3C trace context of the span that published the message (shared/tracing.ts); only when tracing is on. */
export const TRACEPARENT_HEADER = 'traceparent'

/**
 * Message ids (sent as Nats-Msg-Id and recorded in the consumer's inbox).
 * One id per message and never reused for another: a payment request and its
 * result are each unique per order, so a re-publish is recognised as the same
 * message by JetStream's duplicate window and, after it, by the inbox.
 */
export const messageIds = {
  paymentRequested: (orderId: string) => `payment-requested:${orderId}`,
  paymentResult: (orderId: string) => `payment-result:${orderId}`,
  /** The sweeper asking again for an order stuck in NEW (ask 2, 3, …): a new message, so a new id, one per ask. */
  paymentRequestAgain: (orderId: string, ask: number) => `payment-requested:${orderId}:ask:${ask}`,
}

/** A UUID in canonical lower-case form (a pattern, so no format registry is needed). */
export const UUID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
const Uuid = Type.String({ pattern: UUID_PATTERN })
const UserId = Type.String({ pattern: USER_ID_PATTERN.source })
const strict = { additionalProperties: false }

export const FAILURE_REASONS = ['insufficient_funds', 'account_not_found'] as const
export type FailureReason = (typeof FAILURE_REASONS)[number]

export const PaymentRequested = Type.Object(
  {
    orderId: Uuid,
    userId: UserId,
    amount: Amount,
    /**
     * When orders asked (unix ms): payments re-sends a decided order's result
     * only to an ask made after that result went out; an older ask (from a
     * backlog) will see the published result anyway.
     */
    askedAt: Type.Optional(Type.Integer({ minimum: 0, maximum: 8_640_000_000_000_000 })),
  },
  strict,
)
export const PaymentSucceeded = Type.Object({ orderId: Uuid, userId: UserId, amount: Amount }, strict)
export const PaymentFailed = Type.Object(
  {
    orderId: Uuid,
    userId: UserId,
    amount: Amount,
    reason: Type.Union(FAILURE_REASONS.map((r) => Type.Literal(r))),
  },
  strict,
)
/** The whole order after the change, so a page can render it without asking. */
export const OrderStatusChanged = Type.Object(
  {
    orderId: Uuid,
    userId: UserId,
    amount: Amount,
    description: Type.Union([Type.String(), Type.Null()]),
    status: Type.Union([Type.Literal('FINISHED'), Type.Literal('CANCELLED')]),
    reason: Type.Union([Type.Null(), ...FAILURE_REASONS.map((r) => Type.Literal(r))]),
    createdAt: Type.String(),
    updatedAt: Type.String(),
  },
  strict,
)

export const SessionsEnded = Type.Object(
  { sessionIds: Type.Array(Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' }), { minItems: 1, maxItems: 10_000 }) },
  strict,
)

export type PaymentRequested = Static<typeof PaymentRequested>
export type PaymentSucceeded = Static<typeof PaymentSucceeded>
export type PaymentFailed = Static<typeof PaymentFailed>
export type OrderStatusChanged = Static<typeof OrderStatusChanged>

/** Which schema each subject carries. */
export const SCHEMAS = {
  [SUBJECTS.paymentRequested]: PaymentRequested,
  [SUBJECTS.paymentSucceeded]: PaymentSucceeded,
  [SUBJECTS.paymentFailed]: PaymentFailed,
  [SUBJECTS.orderStatusChanged]: OrderStatusChanged,
  [SUBJECTS.sessionsEnded]: SessionsEnded,
} as const satisfies Record<string, TSchema>

export type Subject = keyof typeof SCHEMAS
export type MessageOf<S extends Subject> = Static<(typeof SCHEMAS)[S]>
/** A decoded message: its subject tells the payload's type. */
export type Envelope<S extends Subject = Subject> = { [K in S]: { subject: K; payload: MessageOf<K> } }[S]

/** Thrown for a message that can never be handled; the consumer dead-letters it. */
export class PoisonMessageError extends Error {
  constructor(reason: string) {
    super(reason)
    this.name = 'PoisonMessageError'
  }
}

const decoder = new TextDecoder('utf-8', { fatal: true })
// Compiled once: checking a message is on every consumer's hot path.
const CHECKERS = Object.fromEntries(Object.entries(SCHEMAS).map(([subject, schema]) => [subject, TypeCompiler.Compile(schema)])) as {
  [K in Subject]: ReturnType<typeof TypeCompiler.Compile<(typeof SCHEMAS)[K]>>
}

/** Parses and validates a message of one of the expected subjects, or throws PoisonMessageError. */
export function decodeMessage<S extends Subject>(expected: readonly S[], subject: string, data: Uint8Array): Envelope<S> {
  if (!(expected as readonly string[]).includes(subject)) throw new PoisonMessageError(`unexpected subject ${subject}`)
  let parsed: unknown
  try {
    parsed = JSON.parse(decoder.decode(data))
  } catch {
    throw new PoisonMessageError('payload is not valid UTF-8 JSON')
  }
  const checker = CHECKERS[subject as S]
  if (!checker.Check(parsed)) {
    const first = checker.Errors(parsed).First()
    throw new PoisonMessageError(`payload fails ${subject} schema: ${first ? `${first.path || '/'} ${first.message}` : 'invalid'}`)
  }
  return { subject, payload: parsed } as Envelope<S>
}

export function encodeMessage<S extends Subject>(_subject: S, payload: MessageOf<S>): string {
  return JSON.stringify(payload)
}

// The identity API of the gateway: create a user, and trade a user name and
// password for a bearer token.
//   POST /api/auth/users  {username, password} → 201 {id, username}
//   POST /api/auth/token  {username, password} → 200 {accessToken, tokenType, expiresIn, expiresAt, userId, username}
import { Elysia, t } from 'elysia'
import { AppError } from '../../shared/errors'
import { operationDocs } from '../../shared/http/api-docs'
import { parseJsonOfAnyCase } from '../../shared/http/json-body'
import { tooMany } from '../../shared/http/rate-limit'
import type { Logger } from '../../shared/logger'
import type { AttemptLimiters } from './attempts'
import type { Authenticator } from './authenticator'
import { newCredentialsErrors, normalizeUsername, type UserStore } from './users'

const Credentials = t.Object(
  {
    username: t.String({ maxLength: 64, description: '3-32 of a-z 0-9 . _ - (case-insensitive)' }),
    password: t.String({ maxLength: 1024, description: '8-128 characters' }),
  },
  { additionalProperties: false },
)

const UserView = t.Object({ id: t.String(), username: t.String() })

const TokenView = t.Object({
  accessToken: t.String({ description: 'Send as `Authorization: Bearer <accessToken>`' }),
  tokenType: t.Literal('Bearer'),
  expiresIn: t.Integer({ description: 'Seconds' }),
  expiresAt: t.String({ format: 'date-time' }),
  userId: t.String(),
  username: t.String(),
})

/** The identity API's models, by the names its routes use. */
const authModels = new Elysia({ name: 'gateway.auth-models' }).model({ Credentials, User: UserView, Token: TokenView })

/** 429 with Retry-After when an attempt limit refused (gateway/auth/attempts.ts). */
function refuseIfLimited(waitSeconds: number | undefined, set: Parameters<typeof tooMany>[1]): void {
  if (waitSeconds !== undefined) tooMany(waitSeconds, set)
}

export function authApi(deps: { auth: Authenticator; users: UserStore; log: Logger; limits: AttemptLimiters; bodyTimeoutMs: number }) {
  const { auth, users, log, limits } = deps
  return (
    new Elysia({ name: 'gateway.auth-api', prefix: '/api/auth' })
      .use(authModels)
      // Its JSON bodies in any case of the media type, read within BODY_TIMEOUT_MS.
      .onParse(({ request, contentType }) => parseJsonOfAnyCase(request, contentType, deps.bodyTimeoutMs))
      .post(
        '/users',
        async ({ body, set, request, server }) => {
          refuseIfLimited(await limits.signUp(limits.clientAddress(server, request)), set)
          const username = normalizeUsername(body.username)
          const errors = newCredentialsErrors(username, body.password)
          if (Object.keys(errors).length > 0) {
            throw new AppError(
              'validation_failed',
              Object.entries(errors).map(([field, message]) => ({ field: `/${field}`, message })),
            )
          }
          const user = await users.signUp(username, body.password)
          if (user === 'taken') throw new AppError('username_taken')
          log.info({ userId: user.id, username }, 'user signed up')
          set.status = 201
          return { id: user.id, username: user.username }
        },
        {
          body: 'Credentials',
          response: { 201: 'User' },
          detail: {
            summary: 'Create a user',
            description: 'The user name is stored in lower case. Then get a token with `POST /api/auth/token`.',
            tags: ['auth'],
            ...operationDocs({ public: true, jsonBody: true, rateLimited: true, errors: ['username_taken'] }),
          },
        },
      )
      .post(
        '/token',
        async ({ body, set, request, server }) => {
          const username = normalizeUsername(body.username)
          refuseIfLimited(await limits.signIn(limits.clientAddress(server, request), username), set)
          const user = await users.signIn(username, body.password)
          if (!user) {
            log.info({ username }, 'token refused: bad credentials')
            throw new AppError('invalid_credentials')
          }
          const { token, expiresAt } = auth.issueApiToken(user)
          return {
            accessToken: token,
            tokenType: 'Bearer' as const,
            expiresIn: auth.settings.apiTokenTtlSeconds,
            expiresAt: new Date(expiresAt * 1000).toISOString(),
            userId: user.id,
            username: user.username,
          }
        },
        {
          body: 'Credentials',
          response: { 200: 'Token' },
          detail: {
            summary: 'Get a bearer token for the API',
            description: 'Send the token to `/api/orders/**` and `/api/payments/**` as `Authorization: Bearer <token>` (in their Swagger UI: **Authorize**).',
            tags: ['auth'],
            ...operationDocs({ public: true, jsonBody: true, rateLimited: true, errors: ['invalid_credentials'] }),
          },
        },
      )
  )
}

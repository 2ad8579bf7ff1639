// What every HTTP service of Gozon starts from: strict validation (no
// normalising away of unknown fields), JSON-only bodies, one error handler,
// a request id, /health and the API document with its Swagger UI under the
// service's API prefix (./api-docs.ts).
import { Elysia } from 'elysia'
import type { Registry } from 'prom-client'
import { AppError } from '../errors'
import { type Audience, IDENTITY_HEADER, type IdentitySettings, proofParts, rememberBodyDigest, USER_ID_HEADER } from '../identity'
import type { Logger } from '../logger'
import { httpMetrics, metricsTokenGuard } from '../metrics'
import { apiDocs } from './api-docs'
import { errorsPlugin } from './errors-plugin'
import { type HealthChecks, healthRoute } from './health'
import { jsonBodyOnly, parseJsonOfAnyCase, SERVER_BODY_LIMIT } from './json-body'
import { noSniff } from './no-sniff'
import { requestSpans } from './request-spans'

export const REQUEST_ID_HTTP_HEADER = 'x-request-id'
const REQUEST_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,100}$/

export const requestId = new Elysia({ name: 'gozon.request-id' }).derive({ as: 'global' }, ({ request, set }) => {
  const incoming = request.headers.get(REQUEST_ID_HTTP_HEADER)
  const id = incoming && REQUEST_ID_PATTERN.test(incoming) ? incoming : crypto.randomUUID()
  set.headers[REQUEST_ID_HTTP_HEADER] = id
  return { requestId: id }
})

/** What a reader of a service's API document is told after what the service does: who may call it, and how. */
const THROUGH_GATEWAY_NOTE = [
  'Call this API **through the gateway**, with `Authorization: Bearer <token>`: get a token from `POST /api/auth/token` (documented at `/api/auth/swagger`), then press **Authorize** and paste it.',
  '"Try it out" sends its requests to the origin this page was read from, so read the page through the gateway. Reached directly, a service answers only requests carrying the gateway\'s `Gozon-Identity` proof (401 otherwise).',
].join('\n\n')

/**
 * A request to a service's API (its documentation aside) that carries no
 * proof at all is refused before its body is read or a route is looked for:
 * such a caller learns nothing about the API, not even its media types. A
 * proof that is there is checked by the controllers' identity plugin.
 */
function proofFirst(audience: Audience, apiPrefix: string, settings: IdentitySettings) {
  return new Elysia({ name: 'gozon.proof-first', seed: apiPrefix }).onRequest(({ request }) => {
    const path = new URL(request.url).pathname
    if (!path.startsWith('/api/') || path.startsWith(`${apiPrefix}/swagger`)) return
    // The proof's shape, audience and time; its MAC (which covers the body) is checked once the body is read.
    const proof = request.headers.get(IDENTITY_HEADER)
    if (proof !== null && settings.proofKey && proofParts(audience, proof)) return
    if (settings.devTrustUserIdHeader && request.headers.has(USER_ID_HEADER)) return
    throw new AppError('identity_proof_required')
  })
}

export function createServiceApp(options: {
  name: 'orders' | 'payments'
  apiPrefix: string
  description: string
  log: Logger
  health: HealthChecks
  metrics: Registry
  /** ServiceConfig.bodyTimeoutMs. */
  bodyTimeoutMs: number
  /** ServiceConfig.metricsToken. */
  metricsToken: string | undefined
  /** ServiceConfig.identity: a request to the API without the gateway's proof is refused before anything else. */
  identity: IdentitySettings
}) {
  return (
    new Elysia({
      name: `gozon.${options.name}`,
      normalize: false,
      // A hard cap for bodies that announce no length (chunked); jsonBodyOnly answers 413 for the rest.
      serve: { maxRequestBodySize: SERVER_BODY_LIMIT },
    })
      .use(errorsPlugin(options.log))
      .use(noSniff)
      .use(requestSpans(options.name))
      .use(httpMetrics(options.metrics, metricsTokenGuard(options.metricsToken)))
      // After the spans and metrics, so that refused calls are seen in both.
      .use(proofFirst(options.name, options.apiPrefix, options.identity))
      .use(jsonBodyOnly)
      // JSON bodies are read here, so the identity proof's body digest is of the bytes the handler gets.
      .onParse({ as: 'global' }, ({ request, contentType }) =>
        parseJsonOfAnyCase(request, contentType, options.bodyTimeoutMs, (body) => rememberBodyDigest(request, body)),
      )
      .use(requestId)
      .use(healthRoute(options.health))
      .use(
        apiDocs({
          prefix: options.apiPrefix,
          title: `Gozon ${options.name}`,
          description: `${options.description}\n\n${THROUGH_GATEWAY_NOTE}`,
          tags: [
            { name: options.name, description: options.description },
            { name: 'operations', description: 'Figures for the operations page: no user data' },
          ],
        }),
      )
  )
}

// What every HTTP service of Gozon starts from: strict validation (no
// normalising away of unknown fields), JSON-only bodies, one error handler,
// a request id, /health and the Swagger UI under the service's API prefix.
import { openapi } from '@elysiajs/openapi'
import { dirname, join } from 'node:path'
import { Elysia } from 'elysia'
import type { Logger } from '../logger'
import { httpMetrics } from '../metrics'
import type { Registry } from 'prom-client'
import { readJsonBody } from '../identity'
import { errorsPlugin } from './errors-plugin'
import { type HealthChecks, healthRoute } from './health'
import { jsonBodyOnly, SERVER_BODY_LIMIT } from './json-body'

export const REQUEST_ID_HTTP_HEADER = 'x-request-id'
const REQUEST_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,100}$/

export const requestId = new Elysia({ name: 'gozon.request-id' }).derive({ as: 'global' }, ({ request, set }) => {
  const incoming = request.headers.get(REQUEST_ID_HTTP_HEADER)
  const id = incoming && REQUEST_ID_PATTERN.test(incoming) ? incoming : crypto.randomUUID()
  set.headers[REQUEST_ID_HTTP_HEADER] = id
  return { requestId: id }
})

export function createServiceApp(options: {
  name: string
  apiPrefix: string
  description: string
  log: Logger
  health: HealthChecks
  metrics: Registry
}) {
  return new Elysia({
    name: `gozon.${options.name}`,
    normalize: false,
    // A hard cap for bodies that announce no length (chunked); jsonBodyOnly answers 413 for the rest.
    serve: { maxRequestBodySize: SERVER_BODY_LIMIT },
  })
    .use(errorsPlugin(options.log))
    .use(httpMetrics(options.metrics))
    .use(jsonBodyOnly)
    // JSON bodies are read here, so the identity proof's body digest is of the bytes the handler gets.
    .onParse({ as: 'global' }, ({ request, contentType }) =>
      contentType.toLowerCase().startsWith('application/json') ? readJsonBody(request) : undefined,
    )
    .use(requestId)
    .use(
      openapi({
        path: `${options.apiPrefix}/swagger`,
        provider: 'swagger-ui',
        // The page is built per request (a static page would lose to /:id routes
        // in Bun's router) and its assets are served from swagger-ui-dist here,
        // so the docs work without reaching a CDN.
        embedSpec: true,
        swagger: {
          cdn: `${options.apiPrefix}/swagger/assets/swagger-ui-bundle.js`,
          theme: `${options.apiPrefix}/swagger/assets/swagger-ui.css`,
        },
        documentation: {
          info: { title: `Gozon ${options.name}`, version: '1.0.0', description: options.description },
          components: {
            // What a client of the gateway sends; the gateway turns it into the service's Gozon-Identity proof.
            securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A token from POST /api/auth/token' } },
          },
          security: [{ bearer: [] }],
        },
        exclude: { paths: ['/health', '/metrics'] },
      }),
    )
    .use(healthRoute(options.health))
    .use(swaggerAssets(`${options.apiPrefix}/swagger/assets`))
}

const SWAGGER_ASSETS = {
  'swagger-ui-bundle.js': 'application/javascript; charset=utf-8',
  'swagger-ui.css': 'text/css; charset=utf-8',
} as const

function swaggerAssets(prefix: string) {
  const dir = dirname(Bun.resolveSync('swagger-ui-dist/package.json', import.meta.dir))
  const app = new Elysia({ name: `gozon.swagger-assets.${prefix}` })
  for (const [file, type] of Object.entries(SWAGGER_ASSETS)) {
    app.get(`${prefix}/${file}`, () => new Response(Bun.file(join(dir, file)), { headers: { 'content-type': type, 'cache-control': 'public, max-age=86400' } }), {
      detail: { hide: true },
    })
  }
  return app
}

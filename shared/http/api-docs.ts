// The OpenAPI documents and Swagger UI pages of the APIs: the orders and
// payments services serve theirs under their own prefix, the gateway serves
// the one of its identity API under /api/auth.
//
//   <prefix>/swagger          the Swagger UI page
//   <prefix>/swagger/json     the OpenAPI document
//   <prefix>/swagger/assets/  Swagger UI itself, from the installed swagger-ui-dist (no CDN)
//
// The page loads its document by an absolute path, so it works wherever it is
// read: through the gateway and on a service directly. The document is made
// from the routes (@elysiajs/openapi's toOpenAPISchema, which reads their
// TypeBox schemas), plus what each route states in `detail` with
// operationDocs(): the errors it can answer, from the one error catalogue
// (shared/errors.ts), and the Idempotency-Key header.

import { dirname, join } from 'node:path'
import { toOpenAPISchema } from '@elysiajs/openapi'
import { type AnyElysia, type DocumentDecoration, Elysia, type InternalRoute } from 'elysia'
import type { OpenAPIV3 } from 'openapi-types'
import { ERRORS, type ErrorCode } from '../errors'

export const OPENAPI_VERSION = '3.1.0'
export const BEARER_SCHEME = 'bearer'
const ERROR_SCHEMA_NAME = 'Error'

/** The body of every error answer, its codes straight from the catalogue. */
export function errorSchema(): OpenAPIV3.SchemaObject {
  return {
    type: 'object',
    required: ['error', 'message'],
    additionalProperties: false,
    properties: {
      error: { type: 'string', enum: Object.keys(ERRORS), description: 'A stable code: branch on this' },
      message: { type: 'string', description: 'For people; the wording may change' },
      details: { description: 'More about it, when there is more: for validation_failed a list of {field, message}' },
    },
  }
}

/** What an operation can answer besides its success, and which headers it takes. */
export type OperationDocs = {
  /** Open to anyone (the identity API); otherwise the caller needs a bearer token, through the gateway. */
  public?: boolean
  /** Takes a JSON body: 400 invalid_json, 413, 415 and 422 validation_failed. */
  jsonBody?: boolean
  /** Takes an Idempotency-Key header (shared/http/idempotency.ts): 400, 409 and 422 about the key. */
  idempotencyKey?: boolean
  /** Limited per user or address: 429 with Retry-After. */
  rateLimited?: boolean
  /** The other errors of the operation's own work. */
  errors?: readonly ErrorCode[]
}

/** What every call through the gateway to a service may meet: no or an expired token, the service down or its database. */
const THROUGH_GATEWAY: readonly ErrorCode[] = ['unauthorized', 'token_expired', 'upstream_unavailable', 'upstream_timeout', 'service_unavailable']
const JSON_BODY: readonly ErrorCode[] = ['invalid_json', 'payload_too_large', 'unsupported_media_type', 'validation_failed']
const IDEMPOTENCY_KEY: readonly ErrorCode[] = ['invalid_idempotency_key', 'idempotency_key_in_flight', 'idempotency_key_reused']

/** The error codes an operation documents, in catalogue order. */
export function documentedErrors(docs: OperationDocs): ErrorCode[] {
  const codes = new Set<ErrorCode>([
    ...(docs.public ? ['service_unavailable' as const] : THROUGH_GATEWAY),
    ...(docs.jsonBody ? JSON_BODY : []),
    ...(docs.idempotencyKey ? IDEMPOTENCY_KEY : []),
    ...(docs.rateLimited ? ['rate_limited' as const] : []),
    ...(docs.errors ?? []),
  ])
  return (Object.keys(ERRORS) as ErrorCode[]).filter((code) => codes.has(code))
}

/** One response per status, each listing its codes, with the shared error schema and an example per code. */
function errorResponses(codes: readonly ErrorCode[]): OpenAPIV3.ResponsesObject {
  const byStatus = new Map<number, ErrorCode[]>()
  for (const code of codes) byStatus.set(ERRORS[code].status, [...(byStatus.get(ERRORS[code].status) ?? []), code])
  const responses: OpenAPIV3.ResponsesObject = {}
  for (const [status, group] of [...byStatus].sort(([a], [b]) => a - b)) {
    responses[String(status)] = {
      // Markdown: a message's "<token>" would be taken for an HTML tag.
      description: group.map((code) => `\`${code}\`: ${ERRORS[code].message.replace(/</g, '&lt;').replace(/>/g, '&gt;')}`).join('\n\n'),
      ...(status === 429 ? { headers: { 'Retry-After': { description: 'Seconds until a retry may succeed', schema: { type: 'integer' } } } } : {}),
      content: {
        'application/json': {
          schema: { $ref: `#/components/schemas/${ERROR_SCHEMA_NAME}` },
          examples: Object.fromEntries(group.map((code) => [code, { summary: code, value: { error: code, message: ERRORS[code].message } }])),
        },
      },
    }
  }
  return responses
}

const IDEMPOTENCY_KEY_PARAMETER: OpenAPIV3.ParameterObject = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description:
    'Makes retries safe: the same key (per user) with the same request replays the first response (with Idempotent-Replayed: true) without doing anything again; with a different request it is 422, while the first still runs 409. Keys are kept 24 hours.',
  schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x20-\\x7E]+$' },
  example: 'order-2024-0001',
}

/** The `detail` fields that document an operation's errors, headers and security; spread them into the route's detail. */
export function operationDocs(docs: OperationDocs): Pick<DocumentDecoration, 'responses' | 'parameters' | 'security'> {
  return {
    responses: errorResponses(documentedErrors(docs)),
    ...(docs.idempotencyKey ? { parameters: [IDEMPOTENCY_KEY_PARAMETER] } : {}),
    ...(docs.public ? { security: [] } : {}),
  }
}

export type ApiDocsOptions = {
  /** The API's path prefix: only its routes are documented, and the docs live under it. */
  prefix: string
  title: string
  description: string
  /** The tags of the operations, in the order the page shows them. */
  tags?: OpenAPIV3.TagObject[]
}

type Operation = OpenAPIV3.OperationObject
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const

function openApiPath(path: string): string {
  return path.replace(/:([^/]+)/g, '{$1}')
}

/** The OpenAPI document of `app`'s routes under `options.prefix` (a plugin sees all the routes of the app that uses it). */
export function apiDocument(app: AnyElysia, options: ApiDocsOptions): OpenAPIV3.Document {
  const inApi = (path: string) => path === options.prefix || path.startsWith(`${options.prefix}/`)
  const generated = toOpenAPISchema(app, undefined, undefined, undefined, OPENAPI_VERSION)
  const paths: OpenAPIV3.PathsObject = {}
  for (const [path, item] of Object.entries(generated.paths)) if (inApi(path) && item) paths[path] = item

  // toOpenAPISchema replaces the responses and parameters given in `detail`
  // with those it derives from the route's schemas: put them back together.
  // Protected in Elysia's types; toOpenAPISchema reads the same list.
  for (const route of (app as unknown as { getGlobalRoutes(): InternalRoute[] }).getGlobalRoutes()) {
    const detail = route.hooks?.detail as DocumentDecoration | undefined
    const operation = (paths[openApiPath(route.path)] as Record<string, Operation> | undefined)?.[route.method.toLowerCase()]
    // A custom JSON parser (the services' parseJsonBody) hides the body's media type from toOpenAPISchema.
    const body = operation?.requestBody
    if (body && 'content' in body && Object.keys(body.content).length === 0 && route.hooks?.body) {
      // A named model (.model()) is referred to by name; its schema is in components.schemas.
      const schema = typeof route.hooks.body === 'string' ? { $ref: `#/components/schemas/${route.hooks.body}` } : (route.hooks.body as OpenAPIV3.SchemaObject)
      body.content = { 'application/json': { schema } }
    }
    if (!detail || !operation) continue
    if (detail.responses) operation.responses = { ...detail.responses, ...operation.responses }
    if (detail.parameters) {
      const present = new Set((operation.parameters ?? []).map((p) => ('name' in p ? `${p.in}:${p.name.toLowerCase()}` : '')))
      operation.parameters = [
        ...(operation.parameters ?? []),
        ...detail.parameters.filter((p) => !('name' in p) || !present.has(`${p.in}:${p.name.toLowerCase()}`)),
      ]
    }
  }

  for (const item of Object.values(paths)) {
    for (const method of METHODS) {
      const operation = item?.[method]
      if (!operation) continue
      if (operation.parameters) operation.parameters = operation.parameters.map(tidyParameter)
      // The APIs take JSON only (415 otherwise).
      const body = operation.requestBody
      if (body && 'content' in body && body.content['application/json']) body.content = { 'application/json': body.content['application/json'] }
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        if ('description' in response && response.description === `Response for status ${status}`) response.description = STATUS_TEXT[status] ?? status
      }
      // Success first, then the errors by status.
      operation.responses = Object.fromEntries(Object.entries(operation.responses ?? {}).sort(([a], [b]) => Number(a) - Number(b)))
    }
  }

  return {
    openapi: OPENAPI_VERSION,
    info: { title: options.title, version: '1.0.0', description: options.description },
    // Relative: "Try it out" calls the origin the document was read from, the gateway's when read through it.
    servers: [{ url: '/', description: 'The gateway (this origin, when this page is read through the gateway)' }],
    ...(options.tags ? { tags: options.tags } : {}),
    paths,
    components: {
      schemas: { ...withoutIds(generated.components.schemas), [ERROR_SCHEMA_NAME]: errorSchema() },
      securitySchemes: {
        [BEARER_SCHEME]: {
          type: 'http',
          scheme: 'bearer',
          description: 'Send `Authorization: Bearer <token>`, a token from `POST /api/auth/token`; the gateway checks it.',
        },
      },
    },
    security: [{ [BEARER_SCHEME]: [] }],
  }
}

/**
 * The named models without the `$id` Elysia gives them ("#/components/schemas/Order"):
 * Swagger UI takes an `$id` for a new base of the references inside it, and
 * then resolves none of them ("Could not resolve reference").
 */
function withoutIds<T>(value: T): T {
  if (Array.isArray(value)) return value.map(withoutIds) as T
  if (value === null || typeof value !== 'object') return value
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => key !== '$id')
      .map(([key, v]) => [key, withoutIds(v)]),
  ) as T
}

/** A copy of the parameter (it may be a shared constant) as Swagger UI shows it best. */
function tidyParameter(parameter: OpenAPIV3.ReferenceObject | OpenAPIV3.ParameterObject): OpenAPIV3.ReferenceObject | OpenAPIV3.ParameterObject {
  if (!('schema' in parameter) || !parameter.schema) return parameter
  const schema = plainNumber(parameter.schema)
  // Swagger UI shows the parameter's description, not its schema's.
  const description = parameter.description ?? ('description' in schema ? schema.description : undefined)
  return { ...parameter, schema, ...(description ? { description } : {}) }
}

/**
 * Elysia reads a query's t.Integer from text and says so with
 * anyOf [{type: string, format: integer}, {type: integer}]: a client just
 * sends the number, so the document says integer.
 */
function plainNumber(schema: OpenAPIV3.ReferenceObject | OpenAPIV3.SchemaObject): OpenAPIV3.ReferenceObject | OpenAPIV3.SchemaObject {
  const branches = 'anyOf' in schema ? schema.anyOf : undefined
  if (branches?.length !== 2) return schema
  const [text, number] = branches as [OpenAPIV3.SchemaObject, OpenAPIV3.SchemaObject]
  const fromText = text.type === 'string' && (text.format === 'integer' || text.format === 'numeric')
  return fromText && (number.type === 'integer' || number.type === 'number') ? number : schema
}

const STATUS_TEXT: Record<string, string> = { '200': 'OK', '201': 'Created', '204': 'No Content' }

const ASSETS = {
  'swagger-ui-bundle.js': 'application/javascript; charset=utf-8',
  'swagger-ui.css': 'text/css; charset=utf-8',
} as const

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/**
 * What the Swagger UI page is sent with: its one inline script allowed by its
 * hash and no other, scripts and connections from this origin only, no
 * framing by another origin, nosniff, no referrer to other sites. (Swagger UI
 * sets inline styles as it draws, so styles may be inline here, unlike the
 * shop's pages.)
 */
export function swaggerPageHeaders(page: string): Record<string, string> {
  const inline = /<script>([\s\S]*?)<\/script>/.exec(page)?.[1] ?? ''
  const hash = new Bun.CryptoHasher('sha256').update(inline).digest('base64')
  return {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': `default-src 'self'; script-src 'self' 'sha256-${hash}'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'`,
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'same-origin',
  }
}

/** The Swagger UI page; it loads the document from `specUrl`, an absolute path. */
export function swaggerPage(options: { title: string; specUrl: string; assets: string }): string {
  const config = {
    url: options.specUrl,
    dom_id: '#swagger-ui',
    deepLinking: true,
    displayRequestDuration: true,
  }
  // In a <script>, "</script>" or "<!--" in a value would end it: JSON with < escaped cannot.
  const json = JSON.stringify(config).replace(/</g, '\\u003c')
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>${escapeHtml(options.title)}</title>
  <link rel="stylesheet" href="${escapeHtml(options.assets)}/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="${escapeHtml(options.assets)}/swagger-ui-bundle.js"></script>
  <script>window.ui = SwaggerUIBundle(${json})</script>
</body>
</html>
`
}

/** The page, the document and Swagger UI's files under `<prefix>/swagger`, documenting the routes of the app that uses this. */
export function apiDocs(options: ApiDocsOptions) {
  const base = `${options.prefix}/swagger`
  const specUrl = `${base}/json`
  const assets = `${base}/assets`
  const page = swaggerPage({ title: options.title, specUrl, assets })
  const pageHeaders = swaggerPageHeaders(page)
  let document: OpenAPIV3.Document | undefined
  const dir = dirname(Bun.resolveSync('swagger-ui-dist/package.json', import.meta.dir))
  const app = new Elysia({ name: `gozon.api-docs.${options.prefix}` })
  app
    // Handlers, not static responses: a static route would lose to `<prefix>/:id` in Bun's router.
    .get(base, () => new Response(page, { headers: pageHeaders }), { detail: { hide: true } })
    // Made at the first request, when every route is registered.
    .get(specUrl, () => (document ??= apiDocument(app, options)), { detail: { hide: true } })
  for (const [file, type] of Object.entries(ASSETS)) {
    app.get(
      `${assets}/${file}`,
      () => new Response(Bun.file(join(dir, file)), { headers: { 'content-type': type, 'cache-control': 'public, max-age=86400' } }),
      { detail: { hide: true } },
    )
  }
  return app
}

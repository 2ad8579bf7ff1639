// The API documents and their Swagger UI pages: served through the gateway
// and by each service directly, the page loading its document by an
// absolute URL, every operation listed with the errors it can answer (the
// error schema from the catalogue), the Idempotency-Key header and the bearer
// scheme. e2e/swagger.e2e.ts drives the pages in a browser.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { ERRORS, type ErrorCode } from '../../shared/errors'
import { startSystem, type TestSystem } from '../support/system'

let sys: TestSystem
beforeAll(async () => {
  sys = await startSystem()
})
afterAll(() => sys.stop())

// biome-ignore lint/suspicious/noExplicitAny: a parsed OpenAPI document, checked field by field below
type Doc = any

/** The documents, each with the operations it must list and the error statuses of each. */
const EXPECTED: Record<string, { prefix: string; service?: 'orders' | 'payments'; operations: Record<string, number[]> }> = {
  orders: {
    prefix: '/api/orders',
    service: 'orders',
    operations: {
      'POST /api/orders': [400, 401, 409, 413, 415, 422, 429, 502, 503, 504],
      'GET /api/orders': [401, 422, 502, 503, 504],
      'GET /api/orders/{id}': [401, 404, 502, 503, 504],
      'GET /api/orders/operations': [401, 502, 503, 504],
      'GET /api/orders/operations/digest': [401, 502, 503, 504],
    },
  },
  payments: {
    prefix: '/api/payments',
    service: 'payments',
    operations: {
      'POST /api/payments/account': [401, 502, 503, 504],
      'GET /api/payments/account': [401, 404, 502, 503, 504],
      'POST /api/payments/account/top-up': [400, 401, 404, 409, 413, 415, 422, 429, 502, 503, 504],
      'GET /api/payments/account/transactions': [401, 404, 422, 502, 503, 504],
      'GET /api/payments/operations': [401, 502, 503, 504],
      'GET /api/payments/operations/digest': [401, 502, 503, 504],
    },
  },
  auth: {
    prefix: '/api/auth',
    operations: {
      'POST /api/auth/users': [400, 409, 413, 415, 422, 429, 503],
      'POST /api/auth/token': [400, 401, 413, 415, 422, 429, 503],
    },
  },
}

const IDEMPOTENT = ['POST /api/orders', 'POST /api/payments/account/top-up']
const PUBLIC = ['POST /api/auth/users', 'POST /api/auth/token']

/** Where a document can be read: through the gateway always, on its service directly too. */
function origins(name: string): string[] {
  const service = EXPECTED[name]!.service
  return service ? [sys.gateway.url, sys[service].url] : [sys.gateway.url]
}

async function fetchDoc(origin: string, prefix: string): Promise<Doc> {
  const response = await fetch(`${origin}${prefix}/swagger/json`)
  expect(response.status).toBe(200)
  expect(response.headers.get('content-type')).toStartWith('application/json')
  return response.json()
}

function operationsOf(doc: Doc): Map<string, Doc> {
  const operations = new Map<string, Doc>()
  for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, Doc>>)) {
    for (const [method, operation] of Object.entries(item)) operations.set(`${method.toUpperCase()} ${path}`, operation)
  }
  return operations
}

describe.each(Object.keys(EXPECTED))('the %s API document', (name) => {
  const { prefix, operations: expected } = EXPECTED[name]!

  test('is the same through the gateway and directly, and lists exactly the operations of the API', async () => {
    const docs = await Promise.all(origins(name).map((origin) => fetchDoc(origin, prefix)))
    for (const doc of docs.slice(1)) expect(doc).toEqual(docs[0])
    const doc = docs[0]
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/)
    expect([...operationsOf(doc).keys()].sort()).toEqual(Object.keys(expected).sort())
    for (const operation of operationsOf(doc).values()) expect(operation.summary).toBeString()
    // "Try it out" goes to the origin the document was read from: the gateway's, when read through it.
    expect(doc.servers).toEqual([expect.objectContaining({ url: '/' })])
    expect(doc.info.description).toContain('Bearer')
    // Query numbers are plain integers (not Elysia's "text or integer").
    for (const operation of operationsOf(doc).values()) {
      for (const parameter of operation.parameters ?? []) if (['limit', 'before'].includes(parameter.name)) expect(parameter.schema.type).toBe('integer')
    }
  })

  test('every body and response has a schema, and every reference to a named model resolves', async () => {
    const doc = await fetchDoc(sys.gateway.url, prefix)
    const refs: string[] = []
    const walk = (node: unknown, at: string) => {
      if (Array.isArray(node)) {
        for (const [i, item] of node.entries()) walk(item, `${at}/${i}`)
        return
      }
      if (node === null || typeof node !== 'object') return
      for (const [key, value] of Object.entries(node)) {
        if (key === 'schema') expect({ at, type: typeof value }).toEqual({ at, type: 'object' })
        if (key === '$ref') refs.push(String(value))
        walk(value, `${at}/${key}`)
      }
    }
    walk(doc.paths, '')
    // Swagger UI would take an $id for the base of the references inside it, and resolve none of them.
    expect(JSON.stringify(doc)).not.toContain('"$id"')
    for (const operation of operationsOf(doc).values()) {
      for (const media of Object.values(operation.requestBody?.content ?? {})) expect((media as Doc).schema).toBeObject()
    }
    for (const ref of refs) expect(doc.components.schemas[ref.replace('#/components/schemas/', '')]).toBeObject()
  })

  test('documents every error response with the error schema of the catalogue', async () => {
    const doc = await fetchDoc(sys.gateway.url, prefix)
    expect(doc.components.schemas.Error).toMatchObject({
      type: 'object',
      required: ['error', 'message'],
      properties: { error: { enum: Object.keys(ERRORS) }, message: { type: 'string' } },
    })
    for (const [key, operation] of operationsOf(doc)) {
      const statuses = Object.keys(operation.responses).map(Number)
      expect({ key, errors: statuses.filter((s) => s >= 400) }).toEqual({ key, errors: expected[key]! })
      expect({ key, success: statuses.filter((s) => s < 300).length > 0 }).toEqual({ key, success: true })
      for (const status of statuses.filter((s) => s >= 400)) {
        const content = operation.responses[String(status)].content['application/json']
        expect(content.schema).toEqual({ $ref: '#/components/schemas/Error' })
        // Each example is a code of this status, with its catalogue message.
        const codes = Object.keys(content.examples) as ErrorCode[]
        expect(codes.length).toBeGreaterThan(0)
        for (const code of codes) {
          expect(ERRORS[code].status as number).toBe(status)
          expect(content.examples[code].value).toEqual({ error: code, message: ERRORS[code].message })
          expect(operation.responses[String(status)].description).toContain(code)
        }
      }
      if (statuses.includes(429)) expect(operation.responses['429'].headers['Retry-After']).toBeDefined()
      // Bodies are JSON only (415 otherwise).
      if (operation.requestBody) expect(Object.keys(operation.requestBody.content)).toEqual(['application/json'])
    }
  })

  test('has the bearer scheme, required except by the identity API, and the Idempotency-Key header where it is taken', async () => {
    const doc = await fetchDoc(sys.gateway.url, prefix)
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' })
    expect(doc.security).toEqual([{ bearer: [] }])
    for (const [key, operation] of operationsOf(doc)) {
      if (PUBLIC.includes(key)) expect({ key, security: operation.security }).toEqual({ key, security: [] })
      else expect({ key, security: operation.security }).toEqual({ key, security: undefined })
      const header = (operation.parameters ?? []).find((p: Doc) => p.in === 'header' && p.name === 'Idempotency-Key')
      expect({ key, idempotencyKey: header !== undefined }).toEqual({ key, idempotencyKey: IDEMPOTENT.includes(key) })
      if (header) expect(header.schema).toMatchObject({ type: 'string', maxLength: 255 })
    }
    // Neither WebSockets nor internals (health, metrics, the docs themselves).
    expect(Object.keys(doc.paths).filter((path) => /\/ws$|\/live$|\/health|\/metrics|\/swagger/.test(path))).toEqual([])
  })

  test('has a Swagger UI page that loads the document and its assets by absolute URLs', async () => {
    for (const origin of origins(name)) {
      const page = await fetch(`${origin}${prefix}/swagger`)
      expect(page.status).toBe(200)
      expect(page.headers.get('content-type')).toStartWith('text/html')
      const html = await page.text()
      const specUrl = /"url":"([^"]+)"/.exec(html)?.[1]
      expect(specUrl).toBe(`${prefix}/swagger/json`)
      const spec = await fetch(new URL(specUrl!, page.url))
      expect(spec.status).toBe(200)
      expect((await spec.json()).paths).toBeObject()
      const assets = [...html.matchAll(/(?:href|src)="([^"]+)"/g)].map((m) => m[1]!)
      expect(assets).toEqual([`${prefix}/swagger/assets/swagger-ui.css`, `${prefix}/swagger/assets/swagger-ui-bundle.js`])
      for (const asset of assets) expect({ asset, status: (await fetch(new URL(asset, page.url))).status }).toEqual({ asset, status: 200 })
    }
  })
})

test('the documented errors are the ones answered: a missing token, an unknown order, a bad key', async () => {
  const doc = await fetchDoc(sys.gateway.url, '/api/orders')
  const documented = (key: string, status: number) => Object.keys(operationsOf(doc).get(key).responses[String(status)].content['application/json'].examples)
  const noToken = await sys.api('GET', '/api/orders')
  expect(noToken.status).toBe(401)
  expect(documented('GET /api/orders', 401)).toContain(noToken.body.error)
  const unknown = await sys.api('GET', `/api/orders/${crypto.randomUUID()}`, { user: 'docs-reader' })
  expect(unknown.status).toBe(404)
  expect(documented('GET /api/orders/{id}', 404)).toContain(unknown.body.error)
  const badKey = await sys.api('POST', '/api/orders', { user: 'docs-reader', body: { amount: 1 }, headers: { 'idempotency-key': '\u00e9' } })
  expect(badKey.status).toBe(400)
  expect(documented('POST /api/orders', 400)).toContain(badKey.body.error)
})

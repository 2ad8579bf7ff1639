// Every answer of the gateway and the services says `X-Content-Type-Options:
// nosniff`: a browser then treats a JSON body as JSON, never as a script or a
// page, whatever it holds (an order description is the shopper's own text).
// Pages add their own policy on top (views/html.ts PAGE_HEADERS).
import { Elysia } from 'elysia'

export const noSniff = new Elysia({ name: 'gozon.no-sniff' }).onRequest(({ set }) => {
  set.headers['x-content-type-options'] = 'nosniff'
})

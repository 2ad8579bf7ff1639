// A SERVER span for every HTTP request of the gateway and the services
// (shared/tracing.ts), continued from the caller's `traceparent` header when
// there is one: the gateway's span is then the parent of the service's. The
// route's code finds the request's span with spanOf(request), to store its
// context with an outbox row or pass it on to a service.

import { Elysia } from 'elysia'
import { type Component, contextFrom, endSpan, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, startSpan, tracingOn } from '../tracing'

const spans = new WeakMap<Request, Span>()

/** The request's span, if tracing is on. */
export const spanOf = (request: Request): Span | undefined => spans.get(request)

export function requestSpans(component: Component) {
  return new Elysia({ name: 'gozon.request-spans', seed: component })
    .onRequest(({ request }) => {
      if (!tracingOn()) return
      const url = new URL(request.url)
      const attributes = { 'http.request.method': request.method, 'url.path': url.pathname }
      // The gateway is the edge: a client's traceparent is linked, never the parent, so clients choose neither
      // the trace id nor (with its sampled flag) whether Gozon records the order. The services continue the gateway's.
      const span =
        component === 'gateway'
          ? startSpan(component, request.method, SpanKind.SERVER, ROOT_CONTEXT, attributes, contextFrom(request.headers))
          : startSpan(component, request.method, SpanKind.SERVER, contextFrom(request.headers), attributes)
      if (span) spans.set(request, span)
    })
    .onAfterResponse({ as: 'global' }, ({ request, route, set }) => {
      const span = spans.get(request)
      if (!span) return
      spans.delete(request)
      const status = typeof set.status === 'number' ? set.status : 200
      // The route's pattern, not the URL: one name for every order.
      span.updateName(`${request.method} ${route || 'unmatched'}`)
      span.setAttributes({ 'http.route': route || 'unmatched', 'http.response.status_code': status })
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR })
      endSpan(span)
    })
}

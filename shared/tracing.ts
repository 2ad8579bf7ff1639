// Distributed tracing with OpenTelemetry: one trace follows an order from the
// shopper's click through every asynchronous hop,
//
//   gateway HTTP span → orders HTTP span → (outbox row) → orders relay publish
//   → payments consume → (outbox row) → payments relay publish → orders consume
//   → (status announcement) → gateway live push
//
// carried as a W3C `traceparent`: in HTTP headers between gateway and
// service, in the outbox row (column trace_context) from the transaction that
// wrote it to the relay that publishes it, and in the NATS message headers to
// the consumer. Spans name the order (gozon.order_id) and the message
// (messaging.message.id).
//
// Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set (then spans go there over
// OTLP/HTTP, batched). When off, nothing registers a tracer provider, every
// `tracingOn()` check is false and no span, header or column value is made.
//
// On Bun the OpenTelemetry auto-instrumentations do not apply (Bun.serve and
// fetch are not node:http, and there is no module patching), so the spans
// are made here, by hand, and parents are passed explicitly rather than
// through an async context manager.
import { type Attributes, type Context, propagation, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, type TextMapGetter, trace } from '@opentelemetry/api'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { BatchSpanProcessor, SimpleSpanProcessor, type SpanExporter, TracerProvider } from '@opentelemetry/sdk-trace'

import type { EnvReader } from './config'

export { type Context, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode }

/** Where spans go: the standard OTLP variables (the traces-only one wins); unset: tracing is off. */
export function readTracingEndpoint(env: EnvReader): string | undefined {
  const protocols = ['http:', 'https:']
  return env.optionalUrl('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', protocols) ?? env.optionalUrl('OTEL_EXPORTER_OTLP_ENDPOINT', protocols)
}

let provider: TracerProvider | undefined

/** True when spans are being recorded in this process. */
export const tracingOn = (): boolean => provider !== undefined

/**
 * Starts recording for this process: to `exporter` when given (the tests'
 * in-memory one, exported at once), else over OTLP/HTTP to the endpoint, in
 * batches. Returns how to flush and stop, or undefined when neither is given.
 */
export function startTracing(serviceName: string, options: { endpoint?: string; exporter?: SpanExporter }): { shutdown(): Promise<void> } | undefined {
  if (provider) return { shutdown: async () => {} }
  if (!options.exporter && !options.endpoint) return undefined
  const processor = options.exporter
    ? new SimpleSpanProcessor({ exporter: options.exporter })
    : // The exporter reads OTEL_EXPORTER_OTLP_ENDPOINT (and its _TRACES_ variant, headers, timeout) itself.
      new BatchSpanProcessor({ exporter: new OTLPTraceExporter() })
  const started = new TracerProvider({ resource: resourceFromAttributes({ 'service.name': serviceName }), spanProcessors: [processor] })
  trace.setGlobalTracerProvider(started)
  propagation.setGlobalPropagator(new W3CTraceContextPropagator())
  provider = started
  return {
    async shutdown() {
      if (provider !== started) return
      provider = undefined
      await started.shutdown()
      trace.disable()
      propagation.disable()
    },
  }
}

/** Which part of Gozon made a span (the instrumentation scope; in one test process all three share a provider). */
export type Component = 'gateway' | 'orders' | 'payments'

const tracer = (component: Component) => trace.getTracer(`gozon.${component}`)

const headerGetter: TextMapGetter<{ get(name: string): string | null | undefined }> = {
  get: (carrier, key) => carrier.get(key) ?? undefined,
  keys: () => ['traceparent', 'tracestate'],
}

/** The context a `traceparent` (from a header or an outbox row) names; the root when there is none. */
export function contextFrom(source: { get(name: string): string | null | undefined } | string | null | undefined): Context {
  if (!source) return ROOT_CONTEXT
  const carrier = typeof source === 'string' ? { get: (name: string) => (name === 'traceparent' ? source : undefined) } : source
  return propagation.extract(ROOT_CONTEXT, carrier, headerGetter)
}

/** The `traceparent` that makes the next hop a child of `span` (undefined when tracing is off or there is no span). */
export function traceparentOf(span: Span | undefined): string | undefined {
  if (!span) return undefined
  const carrier: Record<string, string> = {}
  propagation.inject(trace.setSpan(ROOT_CONTEXT, span), carrier)
  return carrier.traceparent
}

/** Starts a span of `component` under `parent` (linked to `linkedTo`, when given); undefined when tracing is off. */
export function startSpan(
  component: Component,
  name: string,
  kind: SpanKind,
  parent: Context,
  attributes: Attributes = {},
  linkedTo?: Context,
): Span | undefined {
  if (!provider) return undefined
  const linked = linkedTo ? trace.getSpanContext(linkedTo) : undefined
  const links = linked && trace.isSpanContextValid(linked) ? [{ context: linked }] : []
  return tracer(component).startSpan(name, { kind, attributes: { 'gozon.component': component, ...attributes }, links }, parent)
}

/** Ends a span, marking it failed when `error` is given. */
export function endSpan(span: Span | undefined, error?: unknown): void {
  if (!span) return
  if (error !== undefined) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) })
    if (error instanceof Error) span.recordException(error)
  }
  span.end()
}

/** For entry points: tracing on when the endpoint is set (logged), and the flush to run at shutdown. */
export function traceProcess(serviceName: string, endpoint: string | undefined, log: { info(o: object, m: string): void }): () => Promise<void> {
  const tracing = startTracing(serviceName, { endpoint })
  if (tracing) log.info({ endpoint }, 'tracing on: spans go to the OTLP endpoint')
  return async () => {
    await tracing?.shutdown().catch(() => {})
  }
}

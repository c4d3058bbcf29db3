import { context, propagation, ProxyTracerProvider, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type Tracer } from '@opentelemetry/api';
import type { Path } from '../address.js';
import { INSTRUMENTATION_NAME } from './scope.js';
import { unrefTimer } from '../clock.js';

/**
 * Tracing through OpenTelemetry's API. With no SDK registered every call pays one read of the
 * boolean below, nothing else: no span objects, no context switches, no field on the wire.
 * With one, each call gets a CLIENT span where it is made and a SERVER span where it is handled
 * (RPC semantic conventions: `rpc.system` qiact, `rpc.service`, `rpc.method`), and the W3C
 * trace context travels with calls, posts and subscriptions on every path (`trace` field).
 */
export const tracingState = { on: false };

const NOOP_DELEGATE = new ProxyTracerProvider().getDelegate();
let tracer: Tracer = trace.getTracer(INSTRUMENTATION_NAME);
let watching: ReturnType<typeof setInterval> | null = null;

/** Reads whether an SDK registered a tracer provider (at node start, then once a second). */
export function refreshTracing(): void {
  const provider = trace.getTracerProvider();
  const on = !(provider instanceof ProxyTracerProvider) || provider.getDelegate() !== NOOP_DELEGATE;
  if (on && !tracingState.on) tracer = trace.getTracer(INSTRUMENTATION_NAME);
  tracingState.on = on;
  if (watching === null) {
    watching = setInterval(refreshTracing, 1000);
    unrefTimer(watching);
  }
}

/** The W3C trace context (`traceparent`, `tracestate`) of `ctx`, as it goes on the wire. */
export function carrierOf(ctx: Context): Record<string, string> | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier.traceparent === undefined ? undefined : carrier;
}

const MAX_TRACE_FIELD = 512;

/**
 * The context a peer sent (its `trace` field), or the root context when it sent none or a bad
 * one: as W3C asks, a malformed trace context starts a new trace; it never fails the message.
 */
export function contextFrom(carrier: unknown): Context {
  if (typeof carrier !== 'object' || carrier === null || Array.isArray(carrier)) return ROOT_CONTEXT;
  const clean: Record<string, string> = {};
  for (const key of ['traceparent', 'tracestate']) {
    const value = (carrier as Record<string, unknown>)[key];
    if (typeof value === 'string' && value.length <= MAX_TRACE_FIELD) clean[key] = value;
  }
  return clean.traceparent === undefined ? ROOT_CONTEXT : propagation.extract(ROOT_CONTEXT, clean);
}

/** The context a message made now carries: the active one (the caller's span, if any). */
export function activeContext(): Context {
  return context.active();
}

/** Starts the CLIENT span of a call to `service.method` made now, from the active context. */
export function startClientSpan(service: string, method: string, path: Path, node: string): { span: Span; ctx: Context } {
  const parent = context.active();
  const span = tracer.startSpan(
    `${service}/${method}`,
    { kind: SpanKind.CLIENT, attributes: { 'rpc.system': 'qiact', 'rpc.service': service, 'rpc.method': method, 'qiact.path': path, 'qiact.node': node } },
    parent,
  );
  return { span, ctx: trace.setSpan(parent, span) };
}

/** Starts the SERVER span of a message handled now by `service` (a call, a post or a subscription). */
export function startServerSpan(parent: Context, service: string, method: string, actor: string, call: boolean): { span: Span; ctx: Context } {
  const span = tracer.startSpan(
    `${service}/${method}`,
    { kind: call ? SpanKind.SERVER : SpanKind.CONSUMER, attributes: { 'rpc.system': 'qiact', 'rpc.service': service, 'rpc.method': method, 'qiact.actor': actor } },
    parent,
  );
  return { span, ctx: trace.setSpan(parent, span) };
}

/** Ends a span with the outcome: an error sets its status and is recorded as an exception. */
export function endSpan(span: Span, error?: unknown): void {
  if (error !== undefined) {
    const e = error instanceof Error ? error : new Error(String(error));
    span.recordException(e);
    span.setStatus({ code: SpanStatusCode.ERROR, message: e.message });
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') span.setAttribute('error.type', code);
  }
  span.end();
}

/** `promise`, ending `span` with its outcome when it settles. */
export function endedWith<T>(span: Span, promise: Promise<T>): Promise<T> {
  return promise.then(
    (value) => {
      endSpan(span);
      return value;
    },
    (error: unknown) => {
      endSpan(span, error);
      throw error;
    },
  );
}

/** Runs `fn` with `ctx` active (its awaits keep it, with the SDK's AsyncLocalStorage context manager). */
export function runIn<T>(ctx: Context, fn: () => T): T {
  return context.with(ctx, fn);
}

export { ROOT_CONTEXT, type Context, type Span };

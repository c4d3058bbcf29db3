/**
 * The bench's Echo in a process that records every span: importing this module registers the
 * OpenTelemetry SDK (always-on sampling, spans batched, as production setups do, to an exporter that drops them), as an
 * application that traces would. bench/tracing.ts calls it beside a plain Echo process.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';

/** Takes every finished span and keeps none: what is measured is the runtime's share, not an exporter's. */
export const droppingExporter: SpanExporter = {
  export: (_spans, done) => done({ code: 0 }),
  shutdown: () => Promise.resolve(),
};

export const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(droppingExporter)] });
export const contextManager = new AsyncLocalStorageContextManager().enable();
trace.setGlobalTracerProvider(provider);
context.setGlobalContextManager(contextManager);
propagation.setGlobalPropagator(new W3CTraceContextPropagator());

export { Echo } from './services.js';
export const MODULE = import.meta.url;

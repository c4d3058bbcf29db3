/** The OpenTelemetry instrumentation scope of every qiact instrument and span. */
export const INSTRUMENTATION_NAME = 'qiact';

// The tracing a handler sees as ctx.trace: spans of its own under the run's span (model calls,
// tool calls, anything worth timing). A no-op unless the daemon traces (observe.otlp).

export type SpanAttributeValue = string | number | boolean;
export type SpanAttributes = Record<string, SpanAttributeValue | undefined>;

/** The part of an OpenTelemetry span a handler may touch while its span is open. */
export interface TraceSpan {
  setAttribute(key: string, value: SpanAttributeValue): unknown;
  setAttributes(attributes: SpanAttributes): unknown;
  addEvent(name: string, attributes?: SpanAttributes): unknown;
}

export interface RunTracer {
  /** The run's trace id (32 hex digits) when it is traced. */
  readonly traceId: string | undefined;
  /**
   * Runs `fn` inside a child span of the step now running (or of the run when none, or several,
   * are): the span ends when `fn` settles and records a thrown error.
   */
  span<T>(
    name: string,
    attributes: SpanAttributes | undefined,
    fn: (span: TraceSpan) => T | Promise<T>,
  ): Promise<T>;
}

const NOOP_SPAN: TraceSpan = {
  setAttribute: () => undefined,
  setAttributes: () => undefined,
  addEvent: () => undefined,
};

/** What ctx.trace is when nothing traces: runs `fn` and nothing else. */
export const NOOP_TRACER: RunTracer = {
  traceId: undefined,
  span: async (_name, _attributes, fn) => fn(NOOP_SPAN),
};

// OpenTelemetry tracing for one daemon: spans of its own (RecordedSpan, never the global tracer,
// so two daemons in one process, as in tests, keep their spans apart), exported in batches to any
// SpanExporter or over OTLP/HTTP when `observe.otlp` is configured, and the W3C traceparent glue
// between events and spans. Sampling follows the parent's flag, and decides new traces by ratio.
import {
  SpanKind,
  TraceFlags,
  trace,
  type Span,
  type SpanAttributes,
  type SpanContext,
} from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { OtlpBatcher } from './otlp-batcher.js';
import type { OtlpProtocol } from './otlp-body.js';
import { OtlpHttpSender } from './otlp-http-sender.js';
import { randomHexId } from '../core/ids.js';
import { OwnedAttributes, RecordedSpan, type SpanOrigin } from './recorded-span.js';

export interface TracingOptions {
  /**
   * Where finished spans go: a SpanExporter (in batches, or one by one with `immediate`), or an
   * OTLP/HTTP collector, each span written into the next request as it ends (otlp-batcher.ts).
   */
  exporter: SpanExporter | OtlpHttpSender;
  /** Told when spans could not be sent to the OTLP collector. */
  onError?: (error: Error) => void;
  /** `service.name` of every span. Default 'agentd'. */
  serviceName?: string;
  /** This harness's node name, as `service.instance.id`. */
  node?: string;
  /** Share of new traces recorded (0..1); traces begun elsewhere follow their sampled flag. */
  sampleRatio?: number;
  /** Export each span as it ends (tests) instead of in batches. */
  immediate?: boolean;
}

export interface OtlpOptions {
  /** The collector's traces endpoint, e.g. http://127.0.0.1:4318/v1/traces. */
  url: string;
  headers?: Record<string, string>;
  /** The bodies' encoding. Default 'http/json'. */
  protocol?: OtlpProtocol;
  sampleRatio?: number;
}

// A W3C traceparent: version, trace id, parent span id, flags (validated: it may come from a header).
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);
/** The W3C random part of a trace id: its last 56 bits (14 hex digits). */
const RANDOM_RANGE = 2 ** 56;

export class Tracing {
  private readonly processor: SpanProcessor;
  private readonly origin: SpanOrigin;
  /** New traces are sampled when their id's random part is below this. */
  private readonly threshold: number;

  constructor(options: TracingOptions) {
    const resource = resourceFromAttributes({
      'service.name': options.serviceName ?? 'agentd',
      ...(options.node === undefined ? {} : { 'service.instance.id': options.node }),
    });
    const instrumentationScope = { name: 'agentd' };
    const { exporter } = options;
    // Large batches: fewer requests to the collector, each export's fixed cost spread thinner.
    this.processor =
      exporter instanceof OtlpHttpSender
        ? new OtlpBatcher(
            exporter,
            { resource, instrumentationScope },
            options.onError === undefined ? {} : { onError: options.onError },
          )
        : options.immediate === true
          ? new SimpleSpanProcessor(exporter)
          : new BatchSpanProcessor(exporter, {
              maxQueueSize: 16_384,
              maxExportBatchSize: 2_048,
              scheduledDelayMillis: 1_000,
            });
    this.origin = { resource, instrumentationScope, processor: this.processor };
    const ratio = Math.min(1, Math.max(0, options.sampleRatio ?? 1));
    this.threshold = ratio >= 1 ? Infinity : ratio * RANDOM_RANGE;
  }

  /** OTLP/HTTP (protobuf or JSON) to the configured collector; what cannot be sent goes to `onError`. */
  static otlp(otlp: OtlpOptions, node?: string, onError?: (error: Error) => void): Tracing {
    return new Tracing({
      exporter: new OtlpHttpSender({
        url: otlp.url,
        ...(otlp.headers === undefined ? {} : { headers: otlp.headers }),
        ...(otlp.protocol === undefined ? {} : { protocol: otlp.protocol }),
      }),
      ...(onError === undefined ? {} : { onError }),
      ...(node === undefined ? {} : { node }),
      ...(otlp.sampleRatio === undefined ? {} : { sampleRatio: otlp.sampleRatio }),
    });
  }

  /**
   * Starts a span whose parent is the W3C `traceparent` given (a new trace when there is none or
   * it is malformed). Unsampled, it records nothing but still carries the trace on.
   */
  startSpan(
    name: string,
    kind: SpanKind,
    traceparent: string | undefined,
    attributes?: SpanAttributes | OwnedAttributes,
  ): Span {
    const parent = traceparent === undefined ? null : TRACEPARENT.exec(traceparent);
    const traceId = parent?.[1];
    const spanId = parent?.[2];
    if (
      traceId === undefined ||
      spanId === undefined ||
      traceId === ZERO_TRACE ||
      spanId === ZERO_SPAN
    ) {
      const newTrace = randomHexId(16);
      const sampled =
        this.threshold === Infinity || parseInt(newTrace.slice(18), 16) < this.threshold;
      return this.open(name, kind, newTrace, sampled, undefined, attributes);
    }
    const remote: SpanContext = {
      traceId,
      spanId,
      traceFlags: parseInt(parent?.[3] ?? '0', 16) & TraceFlags.SAMPLED,
      isRemote: true,
    };
    return this.open(
      name,
      kind,
      traceId,
      (remote.traceFlags & TraceFlags.SAMPLED) !== 0,
      remote,
      attributes,
    );
  }

  /** Starts a child span of `parent`, sampled as the parent is. */
  startChild(name: string, parent: Span, attributes?: SpanAttributes | OwnedAttributes): Span {
    const context = parent.spanContext();
    const sampled = (context.traceFlags & TraceFlags.SAMPLED) !== 0;
    return this.open(name, SpanKind.INTERNAL, context.traceId, sampled, context, attributes);
  }

  /** Exports what has ended so far. */
  async flush(): Promise<void> {
    await this.processor.forceFlush();
  }

  async shutdown(): Promise<void> {
    await this.processor.shutdown();
  }

  private open(
    name: string,
    kind: SpanKind,
    traceId: string,
    sampled: boolean,
    parent: SpanContext | undefined,
    attributes: SpanAttributes | OwnedAttributes | undefined,
  ): Span {
    const context: SpanContext = {
      traceId,
      spanId: randomHexId(8),
      traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
    };
    if (!sampled) return trace.wrapSpanContext(context);
    return new RecordedSpan(this.origin, name, kind, context, parent, attributes);
  }
}

/** The W3C traceparent naming this span as the parent (what events caused by it carry). */
export function traceparentOf(span: Span): string {
  const context = span.spanContext();
  const sampled = (context.traceFlags & 1) === 1;
  return `00-${context.traceId}-${context.spanId}-${sampled ? '01' : '00'}`;
}

/** The trace id in a W3C traceparent (`00-<trace id>-<span id>-<flags>`). */
export function traceIdOf(traceparent: string | undefined): string | undefined {
  return traceparent === undefined ? undefined : traceparent.slice(3, 35);
}

export { OwnedAttributes, SpanKind, type Span };

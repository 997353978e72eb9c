// OpenTelemetry tracing for one daemon: a tracer provider of its own (never the global one, so two
// daemons in one process, as in tests, keep their spans apart), an OTLP/HTTP exporter when
// `observe.otlp` is configured, and the W3C traceparent glue between events and spans.
import {
  ROOT_CONTEXT,
  SpanKind,
  TraceFlags,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';

export interface TracingOptions {
  /** Where finished spans go. */
  exporter: SpanExporter;
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
  sampleRatio?: number;
}

export class Tracing {
  readonly tracer: Tracer;
  private readonly provider: BasicTracerProvider;

  constructor(options: TracingOptions) {
    const processor = options.immediate
      ? new SimpleSpanProcessor(options.exporter)
      : new BatchSpanProcessor(options.exporter, { maxQueueSize: 8_192, maxExportBatchSize: 512 });
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({
        'service.name': options.serviceName ?? 'agentd',
        ...(options.node === undefined ? {} : { 'service.instance.id': options.node }),
      }),
      sampler: new ParentBasedSampler({
        // The ratio sampler hashes every trace id; at 1 there is nothing to decide.
        root:
          (options.sampleRatio ?? 1) >= 1
            ? new AlwaysOnSampler()
            : new TraceIdRatioBasedSampler(options.sampleRatio ?? 1),
      }),
      spanProcessors: [processor],
    });
    this.tracer = this.provider.getTracer('agentd');
  }

  /** An OTLP/HTTP (JSON over HTTP) exporter to the configured collector. */
  static otlp(otlp: OtlpOptions, node?: string): Tracing {
    return new Tracing({
      exporter: new OTLPTraceExporter({
        url: otlp.url,
        ...(otlp.headers === undefined ? {} : { headers: otlp.headers }),
      }),
      ...(node === undefined ? {} : { node }),
      ...(otlp.sampleRatio === undefined ? {} : { sampleRatio: otlp.sampleRatio }),
    });
  }

  /** Starts a span whose parent is the W3C `traceparent` given (a new trace when there is none). */
  startSpan(
    name: string,
    kind: SpanKind,
    traceparent: string | undefined,
    attributes?: Attributes,
  ): Span {
    return this.tracer.startSpan(
      name,
      attributes === undefined ? { kind } : { kind, attributes },
      contextFrom(traceparent),
    );
  }

  /** Starts a child span of `parent`. */
  startChild(name: string, parent: Span, attributes?: Attributes): Span {
    return this.tracer.startSpan(
      name,
      attributes === undefined ? {} : { attributes },
      trace.setSpan(ROOT_CONTEXT, parent),
    );
  }

  /** Exports what has ended so far. */
  async flush(): Promise<void> {
    await this.provider.forceFlush();
  }

  async shutdown(): Promise<void> {
    await this.provider.shutdown();
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

/** A remote parent from a traceparent the envelope schema already validated; ROOT without one. */
function contextFrom(traceparent: string | undefined): Context {
  if (traceparent === undefined || traceparent.length !== 55) return ROOT_CONTEXT;
  const traceId = traceparent.slice(3, 35);
  const spanId = traceparent.slice(36, 52);
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId,
    spanId,
    traceFlags: parseInt(traceparent.slice(53), 16) & TraceFlags.SAMPLED,
    isRemote: true,
  });
}

export { SpanKind, type Span };

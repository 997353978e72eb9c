// OpenTelemetry tracing for one daemon: spans of its own (RecordedSpan, never the global tracer,
// so two daemons in one process, as in tests, keep their spans apart), exported in batches to any
// SpanExporter or over OTLP/HTTP when `observe.otlp` is configured, and the W3C traceparent glue
// between events and spans. A trace is kept at the sample ratio, decided by its id; a caller's
// unsampled flag is always followed.
import { SpanKind, TraceFlags, trace, type Span, type SpanAttributes } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { endDeliverySpans, type DeliveryRecord } from './delivery-record.js';
import { OtlpBatcher } from './otlp-batcher.js';
import type { OtlpProtocol } from './otlp-body.js';
import { OtlpHttpSender } from './otlp-http-sender.js';
import { OtlpThread } from './otlp-thread-client.js';
import { randomHexId } from '../core/ids.js';
import {
  OwnedAttributes,
  RecordedChildSpan,
  RecordedSpan,
  type SpanOrigin,
} from './recorded-span.js';

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
  /** Where settled deliveries go to be exported off the event loop (the OTLP export thread). */
  deliveries?: OtlpThread;
}

export interface OtlpOptions {
  /** The collector's traces endpoint, e.g. http://127.0.0.1:4318/v1/traces. */
  url: string;
  headers?: Record<string, string>;
  /** The bodies' encoding. Default 'http/protobuf'. */
  protocol?: OtlpProtocol;
  sampleRatio?: number;
  /**
   * Export deliveries' spans from a thread of their own (default), or on the event loop (the
   * thread itself exports that way).
   */
  thread?: boolean;
}

// A W3C traceparent: version, trace id, parent span id, flags (validated: it may come from a header).
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);
/** The W3C random part of a trace id: its last 56 bits (14 hex digits). */
const RANDOM_RANGE = 2 ** 56;

export class Tracing {
  private readonly processor: SpanProcessor;
  private readonly origin: SpanOrigin;
  /** New traces are sampled when their id's random part is below this. */
  private readonly threshold: number;
  private readonly deliveries: OtlpThread | undefined;

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
    this.deliveries = options.deliveries;
    const ratio = Math.min(1, Math.max(0, options.sampleRatio ?? 1));
    this.threshold = ratio >= 1 ? Infinity : ratio * RANDOM_RANGE;
  }

  /** OTLP/HTTP (protobuf or JSON) to the configured collector; what cannot be sent goes to `onError`. */
  static otlp(otlp: OtlpOptions, node?: string, onError?: (error: Error) => void): Tracing {
    const collector = {
      url: otlp.url,
      ...(otlp.headers === undefined ? {} : { headers: otlp.headers }),
      ...(otlp.protocol === undefined ? {} : { protocol: otlp.protocol }),
    };
    // Made first: it refuses a bad URL or protocol before any thread is started.
    const exporter = new OtlpHttpSender(collector);
    return new Tracing({
      ...(otlp.thread === false
        ? {}
        : { deliveries: new OtlpThread({ otlp: collector, node }, onError) }),
      exporter,
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
    const joined = this.join(traceparent);
    const parent: ParentOf | undefined =
      joined.parentSpanId === undefined
        ? undefined
        : { spanId: joined.parentSpanId, remote: true, flags: joined.parentFlags };
    return this.open(name, kind, joined.traceId, joined.sampled, parent, attributes);
  }

  /**
   * The trace a span under the W3C `traceparent` given belongs to: that trace, or a new one when
   * there is none or it is malformed; and whether it is recorded.
   */
  join(traceparent: string | undefined): JoinedTrace {
    // test() and slices: a match array and its captures would be garbage on every delivery.
    const valid = traceparent !== undefined && TRACEPARENT.test(traceparent);
    if (!valid || traceparent.startsWith(ZERO_TRACE, 3) || traceparent.startsWith(ZERO_SPAN, 36)) {
      const traceId = randomHexId(16);
      return { traceId, sampled: this.keeps(traceId), parentSpanId: undefined, parentFlags: 0 };
    }
    const traceId = traceparent.slice(3, 35);
    const flags = parseInt(traceparent.slice(53, 55), 16) & TraceFlags.SAMPLED;
    return {
      traceId,
      sampled: flags !== 0 && this.keeps(traceId),
      parentSpanId: traceparent.slice(36, 52),
      parentFlags: flags,
    };
  }

  /**
   * Whether the sample ratio keeps this trace, decided by its id's random part: the same for every
   * span of a trace, and for every harness with the same ratio, so traces are kept whole. (Events
   * get a sampled traceparent when published without one, so the ratio must apply to those too.)
   */
  private keeps(traceId: string): boolean {
    if (this.threshold === Infinity) return true;
    // The last 14 hex digits, read in place (a slice to parse is one more string per delivery).
    let random = 0;
    for (let i = 18; i < 32; i++) random = random * 16 + hexDigit(traceId.charCodeAt(i));
    return random < this.threshold;
  }

  /** Starts a child span of `parent`, sampled as the parent is. */
  startChild(name: string, parent: Span, attributes?: SpanAttributes | OwnedAttributes): Span {
    if (parent instanceof RecordedSpan) {
      const of: ParentOf = { spanId: parent.spanId, remote: false, flags: TraceFlags.SAMPLED };
      return this.open(name, SpanKind.INTERNAL, parent.traceId, true, of, attributes);
    }
    const context = parent.spanContext();
    const flags = context.traceFlags & TraceFlags.SAMPLED;
    const of: ParentOf = { spanId: context.spanId, remote: context.isRemote === true, flags };
    return this.open(name, SpanKind.INTERNAL, context.traceId, flags !== 0, of, attributes);
  }

  /** Starts a child span of this process's span `parentSpanId`, recorded when `sampled`. */
  startChildOf(
    name: string,
    traceId: string,
    parentSpanId: string,
    sampled: boolean,
    attributes?: SpanAttributes | OwnedAttributes,
  ): Span {
    const flags = sampled ? TraceFlags.SAMPLED : TraceFlags.NONE;
    const of: ParentOf = { spanId: parentSpanId, remote: false, flags };
    return this.open(name, SpanKind.INTERNAL, traceId, sampled, of, attributes);
  }

  /**
   * Ends a sampled delivery's two spans: written straight into the OTLP/protobuf body when that
   * takes them, made into span objects for any other processor.
   */
  endDelivery(record: DeliveryRecord): void {
    if (this.deliveries?.add(record) === true) return;
    const processor = this.processor;
    if (processor instanceof OtlpBatcher && processor.takes(record)) processor.addDelivery(record);
    else endDeliverySpans(this.origin, record);
  }

  /** Exports what has ended so far. */
  async flush(): Promise<void> {
    await Promise.all([this.processor.forceFlush(), this.deliveries?.flush()]);
  }

  async shutdown(): Promise<void> {
    await Promise.all([this.processor.shutdown(), this.deliveries?.shutdown()]);
  }

  private open(
    name: string,
    kind: SpanKind,
    traceId: string,
    sampled: boolean,
    parent: ParentOf | undefined,
    attributes: SpanAttributes | OwnedAttributes | undefined,
  ): Span {
    const spanId = randomHexId(8);
    if (!sampled) return trace.wrapSpanContext({ traceId, spanId, traceFlags: TraceFlags.NONE });
    return new (parent === undefined ? RecordedSpan : RecordedChildSpan)(
      this.origin,
      name,
      kind,
      {
        traceId,
        spanId,
        parentSpanId: parent?.spanId,
        parentRemote: parent?.remote === true,
        parentFlags: parent?.flags ?? 0,
      },
      attributes,
      performance.now(),
    );
  }
}

/** A new span's parent: its span id, whether it is remote, its trace flags. */
interface ParentOf {
  spanId: string;
  remote: boolean;
  flags: number;
}

/** The trace a span joins (Tracing.join). */
export interface JoinedTrace {
  traceId: string;
  /** Whether its spans are recorded. */
  sampled: boolean;
  /** The remote span it continues from (none when the trace is new), and that span's flags. */
  parentSpanId: string | undefined;
  parentFlags: number;
}

/** A lowercase hex digit's value (the trace id was checked). */
function hexDigit(code: number): number {
  return code <= 0x39 ? code - 0x30 : code - 0x57;
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

// The two spans every traced delivery has, `deliver <route>` and `handle <route>` inside it, kept as
// plain fields while the delivery runs (run-spans.ts) rather than as two span objects with their
// attribute objects: with no-op handlers those objects, and the generic encoding of them, were
// most of what tracing cost. When the delivery is settled the record goes to the span processor
// (Tracing.endDelivery): the OTLP/protobuf body writes a plain completed delivery straight from
// it, and anything else (another exporter, JSON, a failure, any other outcome) gets the same spans
// made from the record here, exactly as the body would have written them.
import { SpanKind, SpanStatusCode, TraceFlags, type Span } from '@opentelemetry/api';
import {
  OwnedAttributes,
  RecordedChildSpan,
  RecordedSpan,
  type SpanOrigin,
} from './recorded-span.js';

/** A route's span names, made once: a name built per delivery is one more string to flatten. */
export class RouteSpanNames {
  readonly deliver: string;
  readonly handle: string;

  constructor(readonly route: string) {
    this.deliver = `deliver ${route}`;
    this.handle = `handle ${route}`;
  }
}

/** One traced delivery, read when it is settled. Times are performance.now() milliseconds. */
export interface DeliveryRecord {
  readonly names: RouteSpanNames;
  readonly traceId: string;
  /** The event's traceparent span: the delivery span's remote parent (none: a new trace). */
  readonly parentSpanId: string | undefined;
  readonly parentFlags: number;
  readonly deliverSpanId: string;
  readonly startMs: number;
  readonly endMs: number;
  readonly eventId: string;
  readonly eventType: string;
  readonly runId: string;
  readonly attempt: number;
  /** How the attempt was settled (completed, retry, dead, ...). */
  readonly outcome: string;
  /** The handler call, when the handler was called. */
  readonly handler: HandlerRecord | undefined;
}

export interface HandlerRecord {
  readonly spanId: string;
  readonly startMs: number;
  readonly endMs: number;
  /** What the handler threw, when it threw. */
  readonly failure: { error: unknown } | undefined;
}

/**
 * A completed delivery whose handler returned: its spans carry no status, events or links, so an
 * encoder may write them from the record alone.
 */
export function isPlainDelivery(record: DeliveryRecord): boolean {
  return record.outcome === 'completed' && record.handler?.failure === undefined;
}

/** The delivery span's attribute keys, in the order every encoding writes them. */
export const DELIVERY_KEYS = [
  'messaging.destination.name',
  'messaging.message.id',
  'agentd.event.type',
  'agentd.run.id',
  'agentd.run.attempt',
  'agentd.run.outcome',
] as const;

/** The delivery span's attributes. */
function deliveryAttributes(record: DeliveryRecord): OwnedAttributes {
  const [route, message, type, run, attempt, outcome] = DELIVERY_KEYS;
  return new OwnedAttributes(
    {
      [route]: record.names.route,
      [message]: record.eventId,
      [type]: record.eventType,
      [run]: record.runId,
      [attempt]: record.attempt,
      [outcome]: record.outcome,
    },
    DELIVERY_KEYS.length,
  );
}

/** Ends the record's spans as span objects, handler first, each going to `origin`'s processor. */
export function endDeliverySpans(origin: SpanOrigin, record: DeliveryRecord): void {
  const { traceId, parentSpanId } = record;
  const identity = {
    traceId,
    spanId: record.deliverSpanId,
    parentSpanId,
    parentRemote: parentSpanId !== undefined,
    parentFlags: record.parentFlags,
  };
  const deliver = new (parentSpanId === undefined ? RecordedSpan : RecordedChildSpan)(
    origin,
    record.names.deliver,
    SpanKind.CONSUMER,
    identity,
    deliveryAttributes(record),
    record.startMs,
  );
  const handler = record.handler;
  if (handler !== undefined) {
    const handle = new RecordedChildSpan(
      origin,
      record.names.handle,
      SpanKind.INTERNAL,
      {
        traceId,
        spanId: handler.spanId,
        parentSpanId: record.deliverSpanId,
        parentRemote: false,
        parentFlags: TraceFlags.SAMPLED,
      },
      undefined,
      handler.startMs,
    );
    if (handler.failure !== undefined) failSpan(handle, handler.failure.error, handler.endMs);
    handle.endAt(handler.endMs);
  }
  if (record.outcome === 'retry' || record.outcome === 'dead')
    deliver.setStatus({ code: SpanStatusCode.ERROR, message: record.outcome });
  deliver.endAt(record.endMs);
}

/** Marks a span failed with `error`: an ERROR status and an exception event (at `atMs`). */
export function failSpan(span: Span, error: unknown, atMs?: number): void {
  const message = error instanceof Error ? error.message : String(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message });
  if (error instanceof Error) span.recordException(error, atMs);
}

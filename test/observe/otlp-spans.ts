// Spans for the OTLP encoder tests: every kind of content an export must carry.
import { SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { RouteSpanNames, type DeliveryRecord } from '../../src/observe/delivery-record.js';
import { SpanKind, Tracing } from '../../src/observe/tracing.js';

export const CALLER = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

/** A span of every kind of content: attributes of each type, an event, a link, an error. */
export function recordSpans(): ReadableSpan[] {
  const memory = new InMemorySpanExporter();
  const tracing = new Tracing({ exporter: memory, immediate: true, node: 'laptop' });
  const deliver = tracing.startSpan('deliver orders', SpanKind.CONSUMER, CALLER, {
    'agentd.event.type': 'shop.order',
    'agentd.run.attempt': 2,
    'agentd.ratio': 0.25,
    'agentd.replayed': false,
    'agentd.routes': ['orders', 'audit'],
    // Text JSON must escape, text it may carry as it is, and a lone surrogate.
    'agentd.note': 'say "hi"\n\\ to café ☕ 😀 \ud800',
  });
  const handle = tracing.startChild('handle orders', deliver);
  handle.addEvent('checked', { 'stock.left': 3 });
  handle.addLink({ context: deliver.spanContext(), attributes: { why: 'test' } });
  handle.recordException(new TypeError('unknown item "coffee"'));
  handle.setStatus({ code: SpanStatusCode.ERROR, message: 'unknown item "coffee"' });
  handle.end();
  deliver.setStatus({ code: SpanStatusCode.OK });
  deliver.end();
  return memory.getFinishedSpans();
}

/** A delivery's record as RunSpans keeps it, with what `changes` sets. */
export function deliveryRecord(changes: Partial<DeliveryRecord> = {}): DeliveryRecord {
  const now = performance.now();
  return {
    names: new RouteSpanNames('orders'),
    traceId: '0af7651916cd43dd8448eb211c80319c',
    parentSpanId: 'b7ad6b7169203331',
    parentFlags: 1,
    deliverSpanId: '00f067aa0ba902b7',
    startMs: now - 5,
    endMs: now,
    eventId: '0193c0de-7e57-7000-8000-000000000001',
    eventType: 'shop.order',
    runId: '42',
    attempt: 1,
    outcome: 'completed',
    handler: { spanId: 'a3ce929d0e0e4736', startMs: now - 4, endMs: now - 1, failure: undefined },
    ...changes,
  };
}

/** The record's spans as span objects, the way every exporter but OTLP/protobuf gets them. */
export function deliverySpans(record: DeliveryRecord): ReadableSpan[] {
  const memory = new InMemorySpanExporter();
  new Tracing({ exporter: memory, immediate: true, node: 'laptop' }).endDelivery(record);
  return memory.getFinishedSpans();
}

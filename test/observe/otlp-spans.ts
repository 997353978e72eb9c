// Spans for the OTLP encoder tests: every kind of content an export must carry.
import { SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
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

// Spans written as OTLP/JSON by agentd's encoder read back with every attribute they had, whether
// their key's text was encoded once and reused or, past the bound on reused keys, written each time.
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { JsonBytes } from '../../src/observe/json-bytes.js';
import { REQUEST_TAIL, writeRequestHead, writeSpan } from '../../src/observe/otlp-json.js';
import { SpanKind, Tracing } from '../../src/observe/tracing.js';

interface AnyValue {
  stringValue?: string;
  intValue?: number;
  boolValue?: boolean;
  doubleValue?: number;
}
interface Body {
  resourceSpans: Array<{
    scopeSpans: Array<{
      spans: Array<{ name: string; attributes: Array<{ key: string; value: AnyValue }> }>;
    }>;
  }>;
}

describe('the OTLP/JSON encoder', () => {
  it('writes every attribute of every span, over more distinct keys than it keeps encoded', () => {
    const memory = new InMemorySpanExporter();
    const tracing = new Tracing({ exporter: memory, immediate: true });
    // 10 spans of 128 keys each: 1,280 distinct keys, past the 1,024 whose text is kept.
    for (let s = 0; s < 10; s++) {
      const span = tracing.startSpan(`span ${s}`, SpanKind.INTERNAL, undefined);
      for (let a = 0; a < 128; a++) {
        const kind = a % 4;
        span.setAttribute(
          `k.${s}.${a}${a === 5 ? ' "quoted" ☕' : ''}`,
          kind === 0 ? `v${a}` : kind === 1 ? a : kind === 2 ? a % 8 === 2 : a + 0.5,
        );
      }
      span.end();
    }
    const spans = memory.getFinishedSpans();
    const out = new JsonBytes(1_024);
    const first = spans[0] as ReadableSpan;
    writeRequestHead(out, first.resource, first.instrumentationScope);
    spans.forEach((span, i) => {
      if (i > 0) out.ascii(',');
      writeSpan(out, span);
    });
    out.ascii(REQUEST_TAIL);
    const body = JSON.parse(out.bytes().toString('utf8')) as Body;
    const written = body.resourceSpans[0]?.scopeSpans[0]?.spans ?? [];
    expect(written).toHaveLength(10);
    written.forEach((span, s) => {
      expect(span.name).toBe(`span ${s}`);
      const read = Object.fromEntries(
        span.attributes.map(({ key, value }) => [
          key,
          value.stringValue ?? value.intValue ?? value.boolValue ?? value.doubleValue,
        ]),
      );
      expect(read).toEqual(spans[s]?.attributes);
    });
  });
});

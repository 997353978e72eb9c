// agentd's spans and OTLP/HTTP export against the OpenTelemetry SDK's: the same request body as
// the official exporter sends (fields at their proto3 defaults aside), batches sent when full or
// when their delay is up, retries the collector may recover from, a clear error for the rest,
// spans dropped rather than queued without end, and sampling that carries the trace on either way.
import { SpanStatusCode, type Span } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtlpBatcher, type OtlpBatcherOptions } from '../../src/observe/otlp-batcher.js';
import { OtlpHttpSender } from '../../src/observe/otlp-http-sender.js';
import { OwnedAttributes, SpanKind, Tracing, traceparentOf } from '../../src/observe/tracing.js';
import { toEvent } from '../../src/core/envelope.js';
import { startRecordingServer, type RecordingServer } from '../fixtures/recording-server.js';
import { eventually } from './observe-harness.js';
import { CALLER, recordSpans } from './otlp-spans.js';

let collector: RecordingServer;

beforeAll(async () => {
  collector = await startRecordingServer(() => ({ status: 200, body: {} }));
});
afterAll(async () => {
  await collector.close();
});

/** Sends `spans` as agentd's OTLP/JSON batcher does (spans written as they end) to `path`. */
async function sendOurs(
  path: string,
  spans: ReadableSpan[],
  options: OtlpBatcherOptions = {},
): Promise<void> {
  const batcher = new OtlpBatcher(
    new OtlpHttpSender({ url: `${collector.url}${path}`, protocol: 'http/json' }),
    spans[0] as ReadableSpan,
    options,
  );
  for (const span of spans) batcher.onEnd(span);
  await batcher.shutdown();
}

/** Drops what proto3 JSON may leave out: zeros, empty lists, unset fields, empty objects. */
function withoutDefaults(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutDefaults);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const kept = withoutDefaults(v);
    if (kept === 0 || kept === undefined || (Array.isArray(kept) && kept.length === 0)) continue;
    if (typeof kept === 'object' && kept !== null && Object.keys(kept).length === 0) continue;
    out[key] = kept;
  }
  return out;
}

describe('the OTLP/HTTP export', () => {
  it('sends what the official exporter sends, minus fields at their defaults', async () => {
    const spans = recordSpans();
    const official = new OTLPTraceExporter({ url: `${collector.url}/official` });
    const exported = await new Promise<{ code: number }>((resolve) =>
      official.export(spans, resolve),
    );
    expect(exported.code).toBe(0);
    await official.shutdown();
    await sendOurs('/ours', spans);
    const body = (path: string) => {
      const request = collector.requests.find((r) => r.path === path);
      expect(request?.headers['content-type']).toContain('application/json');
      return JSON.parse(request?.text ?? '{}') as unknown;
    };
    const expected = withoutDefaults(body('/official'));
    expect(withoutDefaults(body('/ours'))).toEqual(expected);
    // The comparison covers something: both spans, with their parent, event, link and error.
    expect(JSON.stringify(expected)).toContain('"parentSpanId":"b7ad6b7169203331"');
    expect(JSON.stringify(expected)).toContain('"exception.type"');
    expect(JSON.stringify(expected)).toContain('"arrayValue"');
  });

  it('sends a batch that is not full once it has waited its delay', async () => {
    const memory = new InMemorySpanExporter();
    const tracing = new Tracing({ exporter: memory, immediate: true });
    tracing.startSpan('lonely', SpanKind.INTERNAL, undefined).end();
    const batcher = new OtlpBatcher(
      new OtlpHttpSender({ url: `${collector.url}/delayed`, protocol: 'http/json' }),
      memory.getFinishedSpans()[0] as ReadableSpan,
      { delayMs: 20 },
    );
    batcher.onEnd(memory.getFinishedSpans()[0] as ReadableSpan);
    await eventually(() => collector.requests.some((r) => r.path === '/delayed'));
    await batcher.shutdown();
    const sent = collector.requests.filter((r) => r.path === '/delayed');
    expect(sent).toHaveLength(1);
    expect(sent[0]?.text).toContain('"name":"lonely"');
  });

  it('retries a collector answering 503 and sends the body when it recovers', async () => {
    collector.fail({ path: /^\/flaky$/, status: 503, times: 2 });
    const sender = new OtlpHttpSender({ url: `${collector.url}/flaky` });
    await sender.post(Buffer.from('{"resourceSpans":[]}'));
    sender.close();
    expect(collector.requests.filter((r) => r.path === '/flaky').map((r) => r.status)).toEqual([
      503, 503, 200,
    ]);
  });

  it('gives up at once on an answer retrying cannot change, and says why', async () => {
    collector.fail({ path: /^\/refusing$/, status: 400, times: 1 });
    const errors: Error[] = [];
    await sendOurs('/refusing', recordSpans(), { onError: (error) => errors.push(error) });
    expect(errors.map((e) => e.message)).toEqual([
      `OTLP collector at ${collector.url}/refusing answered HTTP 400`,
    ]);
    expect(collector.requests.filter((r) => r.path === '/refusing')).toHaveLength(1);
  });

  it('drops spans rather than queue without end behind a collector that does not answer', async () => {
    let answer: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (answer = resolve));
    const slow = await startRecordingServer(async () => {
      await held;
      return { status: 200, body: {} };
    });
    const errors: Error[] = [];
    const spans = recordSpans();
    const batcher = new OtlpBatcher(
      new OtlpHttpSender({ url: `${slow.url}/v1/traces` }),
      spans[0] as ReadableSpan,
      { maxBatch: 1, maxWaiting: 1, onError: (error) => errors.push(error) },
    );
    // The first is being sent, the second waits, the rest have nowhere to go.
    for (let i = 0; i < 5; i++) batcher.onEnd(spans[i % 2] as ReadableSpan);
    expect(errors.map((e) => e.message)).toEqual([
      'the OTLP collector is not keeping up: spans are being dropped',
    ]);
    answer();
    await batcher.shutdown();
    await slow.close();
    expect(slow.requests).toHaveLength(2);
  });

  it('writes each body into the buffer of one already sent, and every body arrives whole', async () => {
    const memory = new InMemorySpanExporter();
    const tracing = new Tracing({ exporter: memory, immediate: true });
    // A long span, then shorter ones: a reused buffer must not leak the longer body's tail.
    const names = ['first '.repeat(200), 'second', 'third', 'fourth'];
    for (const name of names) tracing.startSpan(name, SpanKind.INTERNAL, undefined).end();
    const spans = memory.getFinishedSpans();
    const batcher = new OtlpBatcher(
      new OtlpHttpSender({ url: `${collector.url}/reused`, protocol: 'http/json' }),
      spans[0] as ReadableSpan,
      { maxBatch: 1 },
    );
    for (const span of spans) {
      batcher.onEnd(span);
      await batcher.forceFlush();
    }
    await batcher.shutdown();
    const sent = collector.requests
      .filter((r) => r.path === '/reused')
      .map((r) => {
        const body = JSON.parse(r.text) as {
          resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<{ name: string }> }> }>;
        };
        return body.resourceSpans[0]?.scopeSpans[0]?.spans.map((span) => span.name);
      });
    expect(sent).toEqual(names.map((name) => [name]));
  });

  it('counts a connection closed before any answer as a failed attempt', async () => {
    const hangUp = createServer((req) => req.socket.destroy());
    await new Promise<void>((resolve) => hangUp.listen(0, '127.0.0.1', resolve));
    const { port } = hangUp.address() as AddressInfo;
    const sender = new OtlpHttpSender({ url: `http://127.0.0.1:${port}/v1/traces` });
    sender.stopRetrying();
    await expect(sender.post(Buffer.from('{"resourceSpans":[]}'))).rejects.toThrow(
      `OTLP collector at http://127.0.0.1:${port}/v1/traces could not be reached`,
    );
    sender.close();
    await new Promise((resolve) => hangUp.close(resolve));
  });

  it('refuses a URL that is not http(s)', () => {
    expect(() => new OtlpHttpSender({ url: 'ftp://collector/v1/traces' })).toThrow(
      'observe.otlp.url must be an http(s) URL, got ftp://collector/v1/traces',
    );
  });
});

describe('sampling', () => {
  const unsampled = (tracing: Tracing, traceparent?: string): Span =>
    tracing.startSpan('deliver', SpanKind.CONSUMER, traceparent);

  it('records nothing at ratio 0, yet carries the trace on to the events a run causes', () => {
    const memory = new InMemorySpanExporter();
    const tracing = new Tracing({ exporter: memory, immediate: true, sampleRatio: 0 });
    const root = unsampled(tracing);
    const child = tracing.startChild('handle', root);
    expect(root.isRecording()).toBe(false);
    expect(child.spanContext().traceId).toBe(root.spanContext().traceId);
    expect(traceparentOf(child)).toMatch(
      new RegExp(`^00-${root.spanContext().traceId}-[0-9a-f]{16}-00$`),
    );
    child.end();
    root.end();
    expect(memory.getFinishedSpans()).toEqual([]);
  });

  it('never records a trace its caller left unsampled, and samples the rest by trace id', () => {
    const memory = new InMemorySpanExporter();
    const always = new Tracing({ exporter: memory, immediate: true });
    expect(unsampled(always, CALLER).isRecording()).toBe(true);
    expect(unsampled(always, CALLER.replace(/01$/, '00')).isRecording()).toBe(false);
    // A sampled caller's trace is kept at the ratio, as events published without a traceparent
    // (given a sampled one) must be; the trace id decides, so every span of it agrees.
    expect(unsampled(new Tracing({ exporter: memory, sampleRatio: 0 }), CALLER).isRecording()).toBe(
      false,
    );
    const half = new Tracing({ exporter: memory, sampleRatio: 0.5 });
    const low = `00-0af7651916cd43dd84${'00'.repeat(7)}-b7ad6b7169203331-01`;
    const high = `00-0af7651916cd43dd84${'ff'.repeat(7)}-b7ad6b7169203331-01`;
    for (let i = 0; i < 3; i++) {
      expect(unsampled(half, low).isRecording()).toBe(true);
      expect(unsampled(half, high).isRecording()).toBe(false);
    }
  });

  it('samples events published without a traceparent at the ratio', () => {
    const tracing = new Tracing({ exporter: new InMemorySpanExporter(), sampleRatio: 0.25 });
    let recorded = 0;
    for (let i = 0; i < 4_000; i++) {
      const event = toEvent({ type: 'tick' }, { source: 'cron', trust: 'internal' });
      if (unsampled(tracing, event.traceparent).isRecording()) recorded++;
    }
    expect(recorded).toBeGreaterThan(850);
    expect(recorded).toBeLessThan(1_150);
  });

  it('keeps about the share asked for of new traces', () => {
    const tracing = new Tracing({ exporter: new InMemorySpanExporter(), sampleRatio: 0.25 });
    let recorded = 0;
    for (let i = 0; i < 4_000; i++) if (unsampled(tracing).isRecording()) recorded++;
    // 4,000 draws at p = 0.25: 1,000 expected, a standard deviation of 27.
    expect(recorded).toBeGreaterThan(850);
    expect(recorded).toBeLessThan(1_150);
  });

  it('starts a new trace for a malformed or all-zero traceparent', () => {
    const tracing = new Tracing({ exporter: new InMemorySpanExporter() });
    for (const bad of [
      'not-a-traceparent',
      '00-00000000000000000000000000000000-b7ad6b7169203331-01',
      '00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01',
      `00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}`,
    ]) {
      const span = tracing.startSpan('ingest', SpanKind.SERVER, bad);
      expect(span.spanContext().traceId, bad).not.toBe('0af7651916cd43dd8448eb211c80319c');
      expect((span as unknown as ReadableSpan).parentSpanContext, bad).toBeUndefined();
    }
  });
});

describe('spans', () => {
  const start = () => {
    const memory = new InMemorySpanExporter();
    const tracing = new Tracing({ exporter: memory, immediate: true });
    return { memory, span: tracing.startSpan('work', SpanKind.INTERNAL, undefined) };
  };

  it('keep the status rules: unset changes nothing, OK is final, only an error has a message', () => {
    const { memory, span } = start();
    span.setStatus({ code: SpanStatusCode.ERROR, message: 'first' });
    span.setStatus({ code: SpanStatusCode.UNSET });
    span.setStatus({ code: SpanStatusCode.OK, message: 'ignored' });
    span.setStatus({ code: SpanStatusCode.ERROR, message: 'too late' });
    span.end();
    expect(memory.getFinishedSpans()[0]?.status).toEqual({ code: SpanStatusCode.OK });
  });

  it('drop attributes past 128 and values OpenTelemetry does not allow, counting the drops', () => {
    const { memory, span } = start();
    for (let i = 0; i < 130; i++) span.setAttribute(`a${i}`, i);
    span.setAttribute('a0', 'replaced');
    span.setAttributes({ mixed: ['a', 1] as unknown as string[], nested: {} as unknown as string });
    span.end();
    const [finished] = memory.getFinishedSpans();
    expect(Object.keys(finished?.attributes ?? {})).toHaveLength(128);
    expect(finished?.attributes.a0).toBe('replaced');
    expect(finished?.droppedAttributesCount).toBe(2);
  });

  it('take attributes given as their own, and count them against the limit', () => {
    const memory = new InMemorySpanExporter();
    const tracing = new Tracing({ exporter: memory, immediate: true });
    const values: Record<string, number> = {};
    for (let i = 0; i < 127; i++) values[`a${i}`] = i;
    const span = tracing.startSpan(
      'work',
      SpanKind.INTERNAL,
      undefined,
      new OwnedAttributes(values, 127),
    );
    span.setAttribute('a0', 'replaced').setAttribute('fits', true).setAttribute('past', true);
    span.end();
    const [finished] = memory.getFinishedSpans();
    expect(finished?.attributes).toBe(values);
    expect(Object.keys(values)).toHaveLength(128);
    expect(values.a0).toBe('replaced');
    expect(finished?.attributes.fits).toBe(true);
    expect(finished?.droppedAttributesCount).toBe(1);
  });

  it('ignore writes after the end, and a second end', () => {
    const { memory, span } = start();
    span.end();
    span.setAttribute('late', true).addEvent('late').updateName('renamed');
    span.end();
    const finished = memory.getFinishedSpans();
    expect(finished).toHaveLength(1);
    expect(finished[0]?.name).toBe('work');
    expect(finished[0]?.attributes).toEqual({});
    expect(finished[0]?.events).toEqual([]);
  });

  it('time themselves in wall-clock time, end never before start', () => {
    const { memory, span } = start();
    const before = Date.now();
    span.end(performance.now() - 60_000);
    const [finished] = memory.getFinishedSpans();
    const startMs = (finished?.startTime[0] ?? 0) * 1_000 + (finished?.startTime[1] ?? 0) / 1e6;
    expect(Math.abs(startMs - before)).toBeLessThan(1_000);
    expect(finished?.endTime).toEqual(finished?.startTime);
    expect(finished?.duration).toEqual([0, 0]);
  });
});

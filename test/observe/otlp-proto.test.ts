// agentd's OTLP/protobuf request bodies against the official serializer's (byte for byte), through
// nested lengths that take one, two and three bytes, a reused buffer, and spans from the SDK's own
// tracer; and a collector stand-in that receives application/x-protobuf and reads the spans back.
import { SpanStatusCode } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  isPlainDelivery,
  RouteSpanNames,
  type DeliveryRecord,
} from '../../src/observe/delivery-record.js';
import { OtlpHttpSender } from '../../src/observe/otlp-http-sender.js';
import { OtlpProtoBody } from '../../src/observe/otlp-proto.js';
import { SpanKind, Tracing } from '../../src/observe/tracing.js';
import { postEvents, startTestDaemon } from './observe-harness.js';
import { CALLER, deliveryRecord, deliverySpans, recordSpans } from './otlp-spans.js';
import { hex, message, messages, readMessage, text } from './proto-wire.js';

/** A collector stand-in keeping each request's raw bytes. */
async function startByteCollector() {
  const received: Array<{ headers: IncomingHttpHeaders; body: Buffer }> = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** What agentd's batcher sends for `spans`, one body. */
function ours(
  spans: ReadableSpan[],
  body = new OtlpProtoBody(spans[0] as ReadableSpan, 4),
): Buffer {
  body.begin();
  for (const span of spans) body.add(span);
  return body.end();
}

function official(spans: ReadableSpan[]): Buffer {
  const bytes = ProtobufTraceSerializer.serializeRequest(spans);
  if (bytes === undefined) throw new Error('the official serializer wrote nothing');
  return Buffer.from(bytes);
}

/** Spans with what stretches the encoding: long text, odd numbers, many attributes. */
function awkwardSpans(): ReadableSpan[] {
  const memory = new InMemorySpanExporter();
  const tracing = new Tracing({ exporter: memory, immediate: true });
  const span = tracing.startSpan('awkward', SpanKind.PRODUCER, CALLER, {
    empty: '',
    negative: -42,
    'past 2^53': 2 ** 60,
    'most negative': -(2 ** 63),
    'past int64': 2 ** 64,
    'not a number': NaN,
    infinite: -Infinity,
    'with nulls': ['a', null, 'b'],
    numbers: [1, 2.5, -3],
    // Text whose length prefix takes two, then three bytes.
    medium: 'm'.repeat(200),
    long: 'é'.repeat(20_000),
  });
  span.setStatus({ code: SpanStatusCode.ERROR, message: '' });
  span.end();
  // A span past 16 KiB of attributes alone: its own length takes three bytes.
  const big = tracing.startSpan('big', SpanKind.INTERNAL, undefined);
  for (let i = 0; i < 128; i++) big.setAttribute(`key ${i}`, `${i}`.repeat(150));
  big.addEvent('long event', { text: 'x'.repeat(300) });
  big.end();
  tracing.startSpan('small', SpanKind.INTERNAL, undefined).end();
  return memory.getFinishedSpans();
}

describe('the OTLP/protobuf encoder', () => {
  it('writes the bytes the official serializer writes', () => {
    const spans = recordSpans();
    const expected = official(spans);
    expect(ours(spans).equals(expected)).toBe(true);
    // The comparison covers something: the parent id, the exception event, the link.
    expect(expected.includes(Buffer.from('b7ad6b7169203331', 'hex'))).toBe(true);
    expect(expected.includes(Buffer.from('exception.type'))).toBe(true);
    expect(expected.includes(Buffer.from('why'))).toBe(true);
  });

  it('writes lengths of one, two and three bytes, and odd numbers, as the official one does', () => {
    const spans = awkwardSpans();
    expect(ours(spans).equals(official(spans))).toBe(true);
  });

  it('writes a batch whose scope spans take more than 2 MiB as the official one does', () => {
    const memory = new InMemorySpanExporter();
    const tracing = new Tracing({ exporter: memory, immediate: true });
    for (let i = 0; i < 2_048; i++)
      tracing
        .startSpan(`span ${i}`, SpanKind.SERVER, undefined, { payload: 'p'.repeat(1_100) })
        .end();
    const spans = memory.getFinishedSpans();
    const body = ours(spans);
    expect(body.length).toBeGreaterThan(2 ** 21);
    expect(body.equals(official(spans))).toBe(true);
  });

  it('writes a shorter body into the buffer of a longer one without its tail', () => {
    const long = awkwardSpans();
    const body = new OtlpProtoBody(long[0] as ReadableSpan, 1);
    expect(ours(long, body).equals(official(long))).toBe(true);
    const short = long.slice(-1);
    expect(ours(short, body).equals(official(short))).toBe(true);
  });

  it("writes the SDK's own spans, schema URLs and ids it did not make, as the official one does", () => {
    const memory = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes(
        { 'service.name': 'elsewhere' },
        { schemaUrl: 'https://opentelemetry.io/schemas/1.24.0' },
      ),
      spanProcessors: [new SimpleSpanProcessor(memory)],
    });
    const tracer = provider.getTracer('lib', '1.2.3', {
      schemaUrl: 'https://opentelemetry.io/schemas/1.25.0',
    });
    const parent = tracer.startSpan('parent');
    tracer
      .startSpan('linked', {
        links: [
          {
            context: {
              traceId: '0AF7651916CD43DD8448EB211C80319C',
              spanId: 'B7AD6B7169203331',
              traceFlags: 1,
              isRemote: true,
            },
          },
        ],
      })
      .end();
    parent.end();
    const spans = memory.getFinishedSpans();
    expect(ours(spans).equals(official(spans))).toBe(true);
  });
});

describe("a delivery's spans, written from its record", () => {
  const cases: Array<[string, Partial<DeliveryRecord>]> = [
    ['under an event traceparent', {}],
    ['in a trace of their own', { parentSpanId: undefined, parentFlags: 0 }],
    ['before the handler was called', { handler: undefined }],
    [
      'with long and non-ASCII values, a late attempt',
      {
        names: new RouteSpanNames('commandes-é'.repeat(20)),
        eventId: 'évènement-'.repeat(30),
        eventType: 'boutique.commande',
        runId: '9'.repeat(200),
        attempt: 2 ** 40,
      },
    ],
  ];
  it.each(cases)('are the bytes of the spans made from it, %s', (_case, changes) => {
    const record = deliveryRecord(changes);
    const spans = deliverySpans(record);
    expect(spans).toHaveLength(record.handler === undefined ? 1 : 2);
    const body = new OtlpProtoBody(spans[0] as ReadableSpan, 4);
    body.begin();
    expect(isPlainDelivery(record)).toBe(true);
    body.addDelivery(record);
    const written = Buffer.from(body.end());
    expect(written.equals(official(spans))).toBe(true);
    expect(written.equals(ours(spans))).toBe(true);
  });

  it('are span objects with their outcome, status and exception otherwise', () => {
    const failed = deliveryRecord({
      outcome: 'retry',
      handler: {
        spanId: 'a3ce929d0e0e4736',
        startMs: performance.now() - 2,
        endMs: performance.now() - 1,
        failure: { error: new TypeError('no such item') },
      },
    });
    expect(isPlainDelivery(failed)).toBe(false);
    const [handle, deliver] = deliverySpans(failed) as [ReadableSpan, ReadableSpan];
    expect(handle.name).toBe('handle orders');
    expect(handle.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
    expect(handle.status).toEqual({ code: SpanStatusCode.ERROR, message: 'no such item' });
    expect(handle.events.map((e) => e.attributes?.['exception.type'])).toEqual(['TypeError']);
    expect(deliver.attributes['agentd.run.outcome']).toBe('retry');
    expect(deliver.status).toEqual({ code: SpanStatusCode.ERROR, message: 'retry' });
    expect(deliver.parentSpanContext).toMatchObject({ spanId: 'b7ad6b7169203331', isRemote: true });
  });
});

describe('the OTLP/protobuf export', () => {
  it('is what Tracing.otlp sends when asked, and a collector reads the spans back', async () => {
    const collector = await startByteCollector();
    const tracing = Tracing.otlp({ url: collector.url, protocol: 'http/protobuf' }, 'laptop');
    const root = tracing.startSpan('ingest', SpanKind.SERVER, CALLER, { 'http.method': 'POST' });
    tracing.startChild('deliver orders', root, { 'agentd.run.attempt': 1 }).end();
    root.end();
    await tracing.shutdown();
    await collector.close();

    expect(collector.received).toHaveLength(1);
    const [request] = collector.received;
    expect(request?.headers['content-type']).toBe('application/x-protobuf');
    const resourceSpans = message(readMessage(request?.body ?? Buffer.alloc(0)), 1);
    const resourceAttributes = messages(message(resourceSpans, 1), 1).map((kv) => [
      text(kv, 1),
      text(message(kv, 2), 1),
    ]);
    expect(resourceAttributes).toEqual([
      ['service.name', 'agentd'],
      ['service.instance.id', 'laptop'],
    ]);
    const scopeSpans = message(resourceSpans, 2);
    expect(text(message(scopeSpans, 1), 1)).toBe('agentd');
    const spans = messages(scopeSpans, 2);
    expect(spans.map((span) => text(span, 5))).toEqual(['deliver orders', 'ingest']);
    expect(spans.map((span) => hex(span, 1))).toEqual([
      '0af7651916cd43dd8448eb211c80319c',
      '0af7651916cd43dd8448eb211c80319c',
    ]);
    expect(spans.map((span) => hex(span, 4))).toEqual([
      root.spanContext().spanId,
      'b7ad6b7169203331',
    ]);
    // Times are fixed64 nanoseconds since the epoch: within a minute of now.
    const start = spans[1]?.get(7)?.[0];
    expect(typeof start).toBe('bigint');
    const startMs = Number((start as bigint) / 1_000_000n);
    expect(Math.abs(startMs - Date.now())).toBeLessThan(60_000);
  });

  it("follows the daemon's observe.otlp.protocol, protobuf unless it says JSON", async () => {
    const collector = await startByteCollector();
    for (const protocol of ['http/protobuf', undefined, 'http/json'] as const) {
      const d = await startTestDaemon({
        observe: { otlp: { url: collector.url, ...(protocol === undefined ? {} : { protocol }) } },
      });
      await postEvents(d, [{ type: 'ping' }]);
      await d.stop();
    }
    await collector.close();
    expect(collector.received.map((r) => r.headers['content-type'])).toEqual([
      'application/x-protobuf',
      'application/x-protobuf',
      'application/json',
    ]);
    const names = (body: Buffer) =>
      messages(message(message(readMessage(body), 1), 2), 2).map((span) => text(span, 5));
    expect(names(collector.received[0]?.body ?? Buffer.alloc(0))).toContain('ingest');
    expect(names(collector.received[1]?.body ?? Buffer.alloc(0))).toContain('ingest');
    expect(collector.received[2]?.body.toString()).toContain('"name":"ingest"');
  });

  it('refuses a protocol OTLP/HTTP does not have, and says which it has', () => {
    expect(
      () =>
        new OtlpHttpSender({
          url: 'http://127.0.0.1:4318/v1/traces',
          protocol: 'grpc' as 'http/json',
        }),
    ).toThrow('observe.otlp.protocol must be http/protobuf or http/json, got grpc');
  });
});

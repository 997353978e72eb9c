// The OTLP export thread: delivery records survive the trip as bytes (every field, a thrown error
// as the span records it), and a Tracing made by Tracing.otlp sends deliveries from its thread to a
// real collector stand-in, flushed and shut down on request, with the run path's times.
import { SpanStatusCode } from '@opentelemetry/api';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  maxRecordBytes,
  readRecords,
  routeNames,
  writeRecord,
} from '../../src/observe/delivery-codec.js';
import { RouteSpanNames, type DeliveryRecord } from '../../src/observe/delivery-record.js';
import { Tracing } from '../../src/observe/tracing.js';
import { deliveryRecord, deliverySpans } from './otlp-spans.js';
import { hex, message, messages, readMessage, text } from './proto-wire.js';

/** The records as they come out of a batch, times moved by `shiftMs`. */
function roundTrip(records: DeliveryRecord[], shiftMs = 0): DeliveryRecord[] {
  const bytes = Buffer.alloc(records.reduce((sum, r) => sum + maxRecordBytes(r), 0));
  let at = 0;
  for (const r of records) at = writeRecord(bytes, at, r);
  const read: DeliveryRecord[] = [];
  readRecords(bytes.subarray(0, at), shiftMs, routeNames(), (r) => read.push(r));
  return read;
}

describe('delivery records as bytes', () => {
  it('keep every field, with non-ASCII text, no parent or no handler', () => {
    const records = [
      deliveryRecord(),
      deliveryRecord({ parentSpanId: undefined, parentFlags: 0 }),
      deliveryRecord({ handler: undefined, outcome: 'released' }),
      deliveryRecord({
        names: new RouteSpanNames('commandes-é'),
        eventType: 'boutique.commandé ☕',
      }),
    ];
    expect(roundTrip(records)).toEqual(records);
  });

  it('move the times onto the reading thread clock', () => {
    const [read] = roundTrip([deliveryRecord()], 1_000);
    const written = deliveryRecord();
    expect(read?.startMs).toBeCloseTo(written.startMs + 1_000, 0);
    expect((read?.endMs ?? 0) - (read?.startMs ?? 0)).toBeCloseTo(5, 6);
  });

  it('carry what the handler threw, so its span records the same error', () => {
    const thrown = Object.assign(new TypeError('no such item'), { code: 'E_ITEM' });
    const failing = (error: unknown) =>
      deliveryRecord({
        outcome: 'retry',
        handler: { spanId: 'a3ce929d0e0e4736', startMs: 1, endMs: 2, failure: { error } },
      });
    for (const error of [thrown, new RangeError('too far'), 'a thrown string']) {
      const [before, after] = [failing(error), roundTrip([failing(error)])[0] as DeliveryRecord];
      const [handle, beforeDeliver] = deliverySpans(before);
      const [handleAfter, afterDeliver] = deliverySpans(after);
      expect(handleAfter?.status).toEqual(handle?.status);
      expect(handleAfter?.events.map((e) => e.attributes)).toEqual(
        handle?.events.map((e) => e.attributes),
      );
      expect(afterDeliver?.status).toEqual(beforeDeliver?.status);
    }
    const [handle] = deliverySpans(roundTrip([failing(thrown)])[0] as DeliveryRecord);
    expect(handle?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'no such item' });
    expect(handle?.events[0]?.attributes?.['exception.type']).toBe('E_ITEM');
  });
});

async function startCollector() {
  const bodies: Buffer[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      bodies.push(Buffer.concat(chunks));
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const spans = () =>
    bodies.flatMap((body) =>
      messages(message(message(readMessage(body), 1), 2), 2).map((span) => ({
        name: text(span, 5),
        traceId: hex(span, 1),
        spanId: hex(span, 2),
        parentSpanId: hex(span, 4),
        startNs: span.get(7)?.[0] as bigint,
      })),
    );
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    spans,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('the OTLP export thread', () => {
  it('sends the deliveries Tracing.otlp is given, with their times, when flushed', async () => {
    const collector = await startCollector();
    const tracing = Tracing.otlp({ url: collector.url }, 'laptop');
    const deliveries = Array.from({ length: 500 }, (_, i) =>
      deliveryRecord({ deliverSpanId: (i + 1).toString(16).padStart(16, '0'), runId: String(i) }),
    );
    for (const delivery of deliveries) tracing.endDelivery(delivery);
    await tracing.flush();
    const spans = collector.spans();
    expect(spans).toHaveLength(1_000);
    const deliver = spans.filter((span) => span.name === 'deliver orders');
    expect(new Set(deliver.map((span) => span.spanId))).toEqual(
      new Set(deliveries.map((d) => d.deliverSpanId)),
    );
    expect(deliver[0]?.parentSpanId).toBe('b7ad6b7169203331');
    // Fixed64 nanoseconds since the epoch: the instant the record gave, read on another clock.
    const startMs = Number((deliver[0]?.startNs ?? 0n) / 1_000_000n);
    const expectedMs = performance.timeOrigin + (deliveries[0]?.startMs ?? 0);
    expect(Math.abs(startMs - expectedMs)).toBeLessThan(2);

    tracing.endDelivery(deliveryRecord({ outcome: 'dead', handler: undefined }));
    await tracing.shutdown();
    expect(collector.spans()).toHaveLength(1_001);
    await collector.close();
  });
});

// A signed webhook starts its trace at the ingress: the ingest span (named by its source) is the
// parent of the run it causes, and the outbox action that run records is sent in the same trace.
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { on } from '../../src/core/route.js';
import { eventually, startTestDaemon, type TestDaemon } from './observe-harness.js';

const SECRET = `whsec_${Buffer.from('the webhook trace test secret').toString('base64')}`;
const exporter = new InMemorySpanExporter();
let d: TestDaemon;
let status: number;

beforeAll(async () => {
  d = await startTestDaemon(
    {
      sources: [{ kind: 'webhook', name: 'billing', secret: SECRET, type: 'billing.{{type}}' }],
      routes: [
        on('billing.invoice.paid', {
          name: 'thank',
          handler: (_event, ctx) => {
            ctx.outbox.bus.publish({ type: 'billing.thanked', data: {} });
          },
        }),
      ],
    },
    { traceExporter: exporter },
  );
  const body = JSON.stringify({ type: 'invoice.paid', data: { invoice: 7 } });
  const at = new Date();
  const response = await fetch(`${d.url}/hooks/billing`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'webhook-id': 'msg_trace_1',
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': new Webhook(SECRET).sign('msg_trace_1', at, body),
    },
    body,
  });
  status = response.status;
  await eventually(() => exporter.getFinishedSpans().some((s) => s.name === 'send bus.publish'));
});

afterAll(async () => {
  await d.stop();
});

const one = (name: string): ReadableSpan => {
  const found = exporter.getFinishedSpans().filter((s) => s.name === name);
  expect(found, name).toHaveLength(1);
  return found[0] as ReadableSpan;
};

describe('a webhook trace', () => {
  it('starts at an ingest span named by its source, which the run is a child of', () => {
    expect(status).toBe(202);
    const ingest = one('ingest');
    expect(ingest.attributes['agentd.source']).toBe('billing');
    expect(ingest.attributes['http.response.status_code']).toBe(202);
    const deliver = exporter
      .getFinishedSpans()
      .find((s) => s.parentSpanContext?.spanId === ingest.spanContext().spanId);
    expect(deliver, 'a span under ingest').toBeDefined();
    expect(deliver?.spanContext().traceId).toBe(ingest.spanContext().traceId);
  });

  it('carries on to the outbox action the run recorded', () => {
    const ingest = one('ingest');
    const send = one('send bus.publish');
    expect(send.spanContext().traceId).toBe(ingest.spanContext().traceId);
  });
});

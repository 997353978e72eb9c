// Spans joined by traceparent: POST /events (ingest) → deliver → handle → steps and the handler's
// own spans → the emitted event → the next route's deliver and handle → the outbox action it
// recorded, sent by the dispatcher, all in one trace.
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SqliteBus } from '../../src/bus/sqlite/sqlite-bus.js';
import { SqliteInspector } from '../../src/bus/sqlite/inspect-sql.js';
import { on } from '../../src/core/route.js';
import { eventually, postEvents, startTestDaemon, type TestDaemon } from './observe-harness.js';

const exporter = new InMemorySpanExporter();
let d: TestDaemon;
const CALLER_TRACE = '0af7651916cd43dd8448eb211c80319c';
const CALLER_SPAN = 'b7ad6b7169203331';

beforeAll(async () => {
  d = await startTestDaemon(
    {
      routes: [
        on('t.start', {
          name: 'first',
          handler: async (_event, ctx) => {
            await ctx.step('plan', () =>
              ctx.trace?.span('model call', { 'gen_ai.request.model': 'fake' }, () => 'a plan'),
            );
            ctx.emit({ type: 't.next', data: { from: 'first' } });
          },
        }),
        on('t.next', {
          name: 'second',
          handler: async (_event, ctx) => {
            await ctx.step('act', () => 'done');
            ctx.outbox.bus.publish({ type: 't.done', data: { from: 'second' } });
          },
        }),
      ],
    },
    { traceExporter: exporter },
  );
  await postEvents(d, [{ type: 't.start', id: 'trace-1' }], {
    traceparent: `00-${CALLER_TRACE}-${CALLER_SPAN}-01`,
  });
  await eventually(() => exporter.getFinishedSpans().some((s) => s.name === 'send bus.publish'));
});

afterAll(async () => {
  await d.stop();
});

const spans = () => exporter.getFinishedSpans();
const one = (name: string): ReadableSpan => {
  const found = spans().filter((s) => s.name === name);
  expect(found, name).toHaveLength(1);
  return found[0] as ReadableSpan;
};
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
const idOf = (span: ReadableSpan) => span.spanContext().spanId;

describe('traces', () => {
  it("start at ingest, under the caller's traceparent header", () => {
    const ingest = one('ingest');
    expect(ingest.spanContext().traceId).toBe(CALLER_TRACE);
    expect(parentOf(ingest)).toBe(CALLER_SPAN);
  });

  it("link ingest → deliver → handle → step → the handler's own span", () => {
    const deliver = one('deliver first');
    const handle = one('handle first');
    const step = one('step plan');
    const model = one('model call');
    expect(parentOf(deliver)).toBe(idOf(one('ingest')));
    expect(parentOf(handle)).toBe(idOf(deliver));
    expect(parentOf(step)).toBe(idOf(handle));
    expect(parentOf(model)).toBe(idOf(step));
    expect(model.attributes['gen_ai.request.model']).toBe('fake');
    expect(deliver.attributes['messaging.message.id']).toBe('trace-1');
    expect(deliver.attributes['agentd.run.outcome']).toBe('completed');
  });

  it('carry on through the emitted event: its traceparent names the emitting handler span', () => {
    const handleFirst = one('handle first');
    const deliverSecond = one('deliver second');
    expect(parentOf(deliverSecond)).toBe(idOf(handleFirst));
    expect(parentOf(one('handle second'))).toBe(idOf(deliverSecond));
    expect(parentOf(one('step act'))).toBe(idOf(one('handle second')));
    const next = new SqliteInspector((d.daemon.bus as SqliteBus).db)
      .events({ limit: 50 })
      .find((e) => e.event.type === 't.next');
    expect(next?.event.traceparent).toBe(`00-${CALLER_TRACE}-${idOf(handleFirst)}-01`);
  });

  it('carry on to the outbox: the send is a child of the run that recorded the action', () => {
    const send = one('send bus.publish');
    expect(parentOf(send)).toBe(idOf(one('handle second')));
    expect(send.attributes['agentd.action.sink']).toBe('bus');
    expect(send.attributes['agentd.route']).toBe('second');
    expect(send.attributes['agentd.action.outcome']).toBe('sent');
    expect(send.attributes['agentd.run.id']).toBe(
      one('deliver second').attributes['agentd.run.id'],
    );
  });

  it("keep every span of the chain in the caller's trace", () => {
    const ours = spans();
    expect(ours.map((s) => s.name).sort()).toEqual(
      [
        'ingest',
        'deliver first',
        'handle first',
        'step plan',
        'model call',
        'deliver second',
        'handle second',
        'step act',
        'send bus.publish',
      ].sort(),
    );
    for (const span of ours) expect(span.spanContext().traceId, span.name).toBe(CALLER_TRACE);
  });
});

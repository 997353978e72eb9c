// The ingest gate on NATS: events whose data break their type's contract go to the
// `<stream>_QUARANTINE` stream instead of any route, and come back out by replay once they pass.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NatsBus } from '../../src/bus/nats/nats-bus.js';
import type { AgentdEvent } from '../../src/core/envelope.js';
import { GateRefusal, type IngestGate } from '../../src/core/ingest-gate.js';
import { event, options } from './conformance.js';
import { dropNamespace, NATS_URL, natsAvailable, uniqueStream } from './nats/nats-server.js';

const available = await natsAvailable();

/** Orders must carry a numeric `total`; `lenient` lets anything through (a contract relaxed). */
class OrderContract implements IngestGate {
  lenient = false;

  admit(candidate: AgentdEvent): AgentdEvent | GateRefusal {
    if (this.lenient || !candidate.type.startsWith('order.')) return candidate;
    const total = (candidate.data as { total?: unknown } | undefined)?.total;
    if (typeof total === 'number') return candidate;
    return new GateRefusal('order/v1', [
      { path: 'total', expected: 'number', got: String(total), message: 'total must be a number' },
    ]);
  }
}

describe.runIf(available)('the quarantine on a NatsBus', () => {
  const stream = uniqueStream('QU');
  let gate: OrderContract;
  let bus: NatsBus;

  beforeEach(async () => {
    gate = new OrderContract();
    bus = await NatsBus.connect({ servers: NATS_URL, stream, gate });
  });
  afterEach(async () => {
    await bus.close();
    await dropNamespace(NATS_URL, stream);
  });

  it('stores refused events instead of delivering them, results in publish order', async () => {
    const sub = await bus.subscribe('orders', options(['order.placed']));
    const bad = event('order.placed', { id: 'bad-1', data: { total: 'ten' } });
    const results = await bus.publish([
      event('order.placed', { id: 'good-1', data: { total: 10 } }),
      bad,
      event('order.placed', { id: 'good-2', data: { total: 20 } }),
    ]);
    expect(results.map((r) => [r.id, r.quarantined === true, r.duplicate])).toEqual([
      ['good-1', false, false],
      ['bad-1', true, false],
      ['good-2', false, false],
    ]);
    const got = await sub.pull({ max: 10, waitMs: 1_000 });
    const ids = got.map((d) => d.event.id);
    while (ids.length < 2)
      ids.push(...(await sub.pull({ max: 10, waitMs: 1_000 })).map((d) => d.event.id));
    expect(ids).toEqual(['good-1', 'good-2']);
    // A producer retrying the refused event is told it is a duplicate.
    const [again] = await bus.publish([bad]);
    expect(again).toMatchObject({ duplicate: true });
    expect(await bus.quarantine.count()).toBe(1);
    const [listed] = await bus.quarantine.list({ type: 'order.placed' });
    expect(listed).toMatchObject({ event: { id: 'bad-1' }, dataschema: 'order/v1', checks: 1 });
    expect(listed!.issues[0]?.path).toBe('total');
    expect(await bus.quarantine.list({ type: 'order.cancelled' })).toEqual([]);
  });

  it('replays: still refused ones are noted, passing ones are published and leave', async () => {
    const sub = await bus.subscribe('orders', options(['order.placed']));
    await bus.publish([event('order.placed', { id: 'q1', data: {} })]);
    const [entry] = await bus.quarantine.list();
    const first = await bus.quarantine.replay([entry!.id, '999999']);
    expect(first.refused.map((r) => r.id)).toEqual([entry!.id]);
    expect(first.missing).toEqual(['999999']);
    expect(await bus.quarantine.show(entry!.id)).toMatchObject({ checks: 2 });
    gate.lenient = true;
    const second = await bus.quarantine.replay([entry!.id]);
    expect(second.published).toEqual([entry!.id]);
    expect(await bus.quarantine.show(entry!.id)).toBeUndefined();
    const [delivered] = await sub.pull({ max: 1, waitMs: 2_000 });
    expect(delivered?.event.id).toBe('q1');
  });

  it('purges by id and all at once', async () => {
    await bus.publish([
      event('order.placed', { data: {} }),
      event('order.placed', { data: {} }),
      event('order.placed', { data: {} }),
    ]);
    const listed = await bus.quarantine.list();
    expect(listed).toHaveLength(3);
    expect(await bus.quarantine.purge([listed[0]!.id, 'nope'])).toBe(1);
    expect(await bus.quarantine.count()).toBe(2);
    expect(await bus.quarantine.purge('all')).toBe(2);
    expect(await bus.quarantine.list()).toEqual([]);
  });

  it('checks ack-time events too: a run cannot emit past the contract', async () => {
    const sub = await bus.subscribe('placer', options(['cart.checkout']));
    const orders = await bus.subscribe('orders', options(['order.placed']));
    await bus.publish([event('cart.checkout')]);
    const [d] = await sub.pull({ max: 1, waitMs: 2_000 });
    await d!.ack({ publish: [event('order.placed', { id: 'emitted-bad', data: {} })] });
    expect(await orders.pull({ max: 1, waitMs: 500 })).toEqual([]);
    expect((await bus.quarantine.list()).map((q) => q.event.id)).toEqual(['emitted-bad']);
  });
});

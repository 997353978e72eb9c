// SqliteBus batching: deliveries of one key are claimed together once maxSize are queued or the
// first has waited maxWaitMs; every settle applies to the whole batch; nothing is lost on restart.
import { describe, expect, it } from 'vitest';
import type { Delivery } from '../../src/bus/bus.js';
import { event, options } from './conformance.js';
import { runsOf, store } from './sqlite-harness.js';

const batched = (over: Parameters<typeof options>[1] = {}) =>
  options(['b.x'], { batch: { maxSize: 3, maxWaitMs: 10_000 }, ...over });
const ids = (d: Delivery | undefined) => d?.events?.map((e) => e.id);
const numbered = (n: number, extra: Record<string, unknown> = {}) =>
  Array.from({ length: n }, (_, i) => event('b.x', { id: `e${i + 1}`, ...extra }));

describe('SqliteBus batching', () => {
  it('hands out a batch once it holds maxSize, in publish order, the first id naming it', async () => {
    const shared = store();
    const bus = shared.open();
    const sub = await bus.subscribe('s', batched());
    await bus.publish(numbered(7));
    const got = await sub.pull({ max: 10, waitMs: 0 });
    expect(got.map(ids)).toEqual([
      ['e1', 'e2', 'e3'],
      ['e4', 'e5', 'e6'],
    ]);
    const runs = runsOf(bus, 's');
    expect(got.map((d) => d.deliveryId)).toEqual([runs[0]?.runId, runs[3]?.runId]);
    expect(got[0]?.event.id).toBe('e3');
    await shared.clock.advanceBy(9_999);
    expect(await sub.pull({ max: 10, waitMs: 0 })).toHaveLength(0);
    await shared.clock.advanceBy(1);
    expect((await sub.pull({ max: 10, waitMs: 0 })).map(ids)).toEqual([['e7']]);
  });

  it('groups by key, each group waiting maxWaitMs from its first delivery', async () => {
    const shared = store();
    const bus = shared.open();
    const sub = await bus.subscribe('s', batched({ key: 'data.repo', ordering: 'none' }));
    await bus.publish([event('b.x', { id: 'a1', data: { repo: 'a' } })]);
    await shared.clock.advanceBy(5_000);
    await bus.publish([
      event('b.x', { id: 'b1', data: { repo: 'b' } }),
      event('b.x', { id: 'a2', data: { repo: 'a' } }),
    ]);
    await shared.clock.advanceBy(5_000);
    const [a] = await sub.pull({ max: 10, waitMs: 0 });
    expect(ids(a)).toEqual(['a1', 'a2']);
    expect(a?.key).toBe('a');
    await shared.clock.advanceBy(5_000);
    expect((await sub.pull({ max: 10, waitMs: 0 })).map(ids)).toEqual([['b1']]);
  });

  it('settles every member with its batch: ack completes them all', async () => {
    const bus = store().open();
    const sub = await bus.subscribe('s', batched());
    await bus.publish(numbered(3));
    const [d] = await sub.pull({ max: 1, waitMs: 0 });
    expect(runsOf(bus, 's').map((r) => r.status)).toEqual(['running', 'queued', 'queued']);
    await d!.ack();
    expect(runsOf(bus, 's').map((r) => r.status)).toEqual(['completed', 'completed', 'completed']);
  });

  it('retries the whole batch with its steps, and dead-letters each member with the same reason', async () => {
    const bus = store().open();
    const sub = await bus.subscribe(
      's',
      batched({ maxAttempts: 2, backoff: { initialMs: 0, maxMs: 0, factor: 1 } }),
    );
    await bus.publish(numbered(3));
    const [first] = await sub.pull({ max: 1, waitMs: 0 });
    await first!.saveStep('summary', 'three events');
    expect(await first!.nack({ error: 'flaky' })).toBe('retry');
    const [second] = await sub.pull({ max: 1, waitMs: 0 });
    expect(second).toMatchObject({ attempt: 2, deliveryId: first!.deliveryId });
    expect(ids(second)).toEqual(['e1', 'e2', 'e3']);
    expect((await second!.loadSteps()).get('summary')).toBe('three events');
    expect(await second!.nack({ error: 'still flaky' })).toBe('dead');
    const dead = await bus.dlq.list({ subscription: 's' });
    expect(dead.map((d) => d.event.id).sort()).toEqual(['e1', 'e2', 'e3']);
    expect(new Set(dead.map((d) => d.reason))).toEqual(
      new Set(['failed 2 of 2 attempts; last error: still flaky']),
    );
    expect(dead.every((d) => d.attempts === 2 && d.errors.length === 2)).toBe(true);
    // Replayed, they are batched again, like new deliveries.
    expect(await bus.dlq.replay(dead.map((d) => d.deliveryId))).toBe(3);
    const [again] = await sub.pull({ max: 10, waitMs: 0 });
    expect(ids(again)).toEqual(['e1', 'e2', 'e3']);
    expect(again?.attempt).toBe(1);
  });

  it('cancels, defers and releases a batch as one', async () => {
    const shared = store();
    const bus = shared.open();
    const sub = await bus.subscribe('s', batched());
    await bus.publish(numbered(6));
    const [one, two] = await sub.pull({ max: 2, waitMs: 0 });
    await one!.defer(1_000, 'budget paused');
    await two!.release();
    await shared.clock.advanceBy(1_000);
    // The released one was back first; the deferred one a second later.
    const again = await sub.pull({ max: 2, waitMs: 0 });
    expect(again.map(ids)).toEqual([
      ['e4', 'e5', 'e6'],
      ['e1', 'e2', 'e3'],
    ]);
    expect(again.map((d) => d.attempt)).toEqual([1, 1]);
    await again[1]!.cancel('operator');
    expect(runsOf(bus, 's').map((r) => r.status)).toEqual([
      'cancelled',
      'cancelled',
      'cancelled',
      'running',
      'queued',
      'queued',
    ]);
  });

  it('loses nothing over a restart: an open batch fills up, a leased one comes back whole', async () => {
    const shared = store();
    let bus = shared.open();
    await bus.subscribe('s', batched());
    await bus.publish(numbered(2));
    await bus.close();
    bus = shared.open();
    let sub = await bus.subscribe('s', batched());
    await bus.publish([event('b.x', { id: 'e3' })]);
    const [d] = await sub.pull({ max: 1, waitMs: 0 });
    expect(ids(d)).toEqual(['e1', 'e2', 'e3']);
    await bus.close();
    await shared.clock.advanceBy(1);
    bus = shared.open();
    sub = await bus.subscribe('s', batched());
    expect(await bus.recoverLeases()).toBe(1);
    await shared.clock.advanceBy(1_000); // its retry backoff
    const [back] = await sub.pull({ max: 1, waitMs: 0 });
    expect(ids(back)).toEqual(['e1', 'e2', 'e3']);
    expect(back?.attempt).toBe(2);
    expect(back?.errors[0]?.error).toMatch(/recovered at start/);
  });

  it('waits behind the running batch of its key, and fills while it waits', async () => {
    const bus = store().open();
    const sub = await bus.subscribe('s', batched());
    await bus.publish(numbered(3, { partitionkey: 'k' }));
    const [running] = await sub.pull({ max: 10, waitMs: 0 });
    await bus.publish(numbered(3, { partitionkey: 'k' }).map((e) => ({ ...e, id: `n${e.id}` })));
    expect(await sub.pull({ max: 10, waitMs: 0 })).toHaveLength(0);
    await running!.ack();
    const [next] = await sub.pull({ max: 10, waitMs: 0 });
    expect(ids(next)).toEqual(['ne1', 'ne2', 'ne3']);
  });

  it('gives the members of a subscription that stops batching deliveries of their own', async () => {
    const shared = store();
    const bus = shared.open();
    await bus.subscribe('s', batched());
    await bus.publish(numbered(2));
    const plain = await bus.subscribe('s', options(['b.x']));
    const got = await plain.pull({ max: 10, waitMs: 0 });
    expect(got.map((d) => d.event.id)).toEqual(['e1', 'e2']);
    expect(got.every((d) => d.events === undefined)).toBe(true);
  });
});

// Debounce on the NATS bus: a burst of events per key becomes one run of its last event, waitMs after
// the last and no later than maxWaitMs after the first, decided by the stream and the key lock —
// so any number of worker connections on one stream agree, and a running head keeps its run.
import { afterEach, describe, expect, it } from 'vitest';
import type { SubscriptionOptions } from '../../src/bus/bus.js';
import type { NatsSubscription } from '../../src/bus/nats/nats-subscription.js';
import { event, options } from './conformance.js';
import { closeBuses, endedRuns, openBuses, pullUntil } from './nats/governed-buses.js';
import { natsAvailable } from './nats/nats-server.js';

const available = await natsAvailable();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const debounced = (waitMs: number, maxWaitMs?: number): SubscriptionOptions =>
  options(['d.x'], {
    key: 'data.pr',
    debounce: { waitMs, ...(maxWaitMs === undefined ? {} : { maxWaitMs }) },
  });
const pr = (n: number, id: string) => event('d.x', { id, data: { pr: n } });

describe.runIf(available)('NatsBus debounce', () => {
  afterEach(closeBuses);

  it('runs a burst of 5 once, with its last event; the others are skipped as superseded', async () => {
    const [bus] = await openBuses(1, 'DEB');
    const sub = await bus!.subscribe('s', debounced(600));
    await bus!.publish([1, 2, 3, 4, 5].map((i) => pr(1, `e${i}`)));
    await bus!.publish([pr(2, 'other')]);
    const got = await pullUntil([sub], 2);
    expect(got.map((d) => d.event.id).sort()).toEqual(['e5', 'other']);
    expect(got.every((d) => d.attempt === 1)).toBe(true);
    expect(await sub.pull({ max: 10, waitMs: 500 })).toHaveLength(0);
    expect(await endedRuns(sub)).toEqual(
      [1, 2, 3, 4].map((i) => [`e${i}`, 'skipped', `debounced: superseded by e${i + 1}`]),
    );
    await Promise.all(got.map((d) => d.ack()));
  });

  it('caps a long burst at maxWaitMs after its first event', async () => {
    // The bus's clock runs ahead, so that a run due by the cap (first + 60 s) is due now, while
    // waitMs after the last event (last + 60 s) lies ahead: the burst spans over a second of
    // stream time, the clock is half a second short of the last event's due time.
    const [bus] = await openBuses(1, 'DEBCAP', { clock: { now: () => Date.now() + 59_500 } });
    const sub = await bus!.subscribe('s', debounced(60_000, 60_000));
    for (let i = 1; i <= 5; i++) {
      if (i > 1) await sleep(250);
      await bus!.publish([pr(1, `e${i}`)]);
    }
    const [d] = await pullUntil([sub], 1);
    expect(d?.event.id).toBe('e5');
    // Due by the cap when it first held its key: it was never deferred.
    const seq = Number(d!.deliveryId.split('@')[0]);
    expect((await (sub as NatsSubscription).records.load(seq)).skips).toBe(0);
    expect((await endedRuns(sub)).map(([id, status]) => [id, status])).toEqual(
      [1, 2, 3, 4].map((i) => [`e${i}`, 'skipped']),
    );
    await d!.ack();
  });

  it('lets a running head keep its run; the events behind it debounce among themselves', async () => {
    const [bus] = await openBuses(1, 'DEBRUN');
    const sub = await bus!.subscribe('s', debounced(600));
    await bus!.publish([pr(1, 'first')]);
    const [running] = await pullUntil([sub], 1);
    expect(running?.event.id).toBe('first');
    await bus!.publish([pr(1, 'second'), pr(1, 'third')]);
    // Due, but they wait behind the running delivery of their key; and nothing supersedes it.
    expect(await sub.pull({ max: 10, waitMs: 600 })).toHaveLength(0);
    await running!.extend();
    await running!.ack();
    const [next] = await pullUntil([sub], 1);
    expect(next?.event.id).toBe('third');
    expect(await endedRuns(sub)).toEqual([['second', 'skipped', 'debounced: superseded by third']]);
    await next!.ack();
  });

  it('looks again when its wait ends: an event published meanwhile supersedes it', async () => {
    const [bus] = await openBuses(1, 'DEBLATE');
    const sub = await bus!.subscribe('s', debounced(1_000));
    await bus!.publish([pr(1, 'early')]);
    // Taken in and deferred (or not yet): either way it is not due.
    expect(await sub.pull({ max: 1, waitMs: 300 })).toHaveLength(0);
    await bus!.publish([pr(1, 'late')]);
    const [d] = await pullUntil([sub], 1);
    expect(d?.event.id).toBe('late');
    expect(await endedRuns(sub)).toEqual([['early', 'skipped', 'debounced: superseded by late']]);
    await d!.ack();
  });

  it('behaves the same on two connections sharing the stream, as two workers would', async () => {
    const buses = await openBuses(2, 'DEB2');
    const subs = await Promise.all(buses.map((bus) => bus.subscribe('s', debounced(600))));
    const events = [];
    for (let i = 1; i <= 5; i++) for (let k = 1; k <= 4; k++) events.push(pr(k, `k${k}-e${i}`));
    await buses[0]!.publish(events);
    const got = await pullUntil(subs, 4);
    expect(got.map((d) => d.event.id).sort()).toEqual(['k1-e5', 'k2-e5', 'k3-e5', 'k4-e5']);
    await Promise.all(got.map((d) => d.ack()));
    for (const sub of subs) expect(await sub.pull({ max: 10, waitMs: 300 })).toHaveLength(0);
    const ended = await endedRuns(subs[0]!);
    expect(ended).toHaveLength(16);
    for (const [id, status, reason] of ended) {
      const [k, e] = id.split('-e');
      expect([status, reason]).toEqual([
        'skipped',
        `debounced: superseded by ${k}-e${Number(e) + 1}`,
      ]);
    }
  });

  it('debounces by partitionkey on a route without a key expression', async () => {
    const [bus] = await openBuses(1, 'DEBPK');
    const sub = await bus!.subscribe('s', options(['d.x'], { debounce: { waitMs: 600 } }));
    await bus!.publish(['a', 'b', 'c'].map((id) => event('d.x', { id, partitionkey: 'repo-1' })));
    const got = await pullUntil([sub], 1);
    expect(got.map((d) => [d.event.id, d.key])).toEqual([['c', 'repo-1']]);
    expect((await endedRuns(sub)).map(([id, , reason]) => [id, reason])).toEqual([
      ['a', 'debounced: superseded by b'],
      ['b', 'debounced: superseded by c'],
    ]);
    await got[0]!.ack();
  });

  it('debounces an event without a key on its own', async () => {
    const [bus] = await openBuses(1, 'DEBNOKEY');
    const sub = await bus!.subscribe('s', debounced(600));
    await bus!.publish([event('d.x', { id: 'a' }), event('d.x', { id: 'b' })]);
    const got = await pullUntil([sub], 2);
    expect(got.map((d) => d.event.id).sort()).toEqual(['a', 'b']);
    expect(await endedRuns(sub)).toEqual([]);
    await Promise.all(got.map((d) => d.ack()));
  });
});

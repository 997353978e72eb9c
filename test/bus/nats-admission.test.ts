// What admission (the governor) asks of the NATS bus: defer without spending an attempt, cancel as
// a terminal outcome, the delivery's key, backlogs per route, and the routes a type reaches.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NatsBus } from '../../src/bus/nats/nats-bus.js';
import { event, options } from './conformance.js';
import { dropNamespace, NATS_URL, natsAvailable, uniqueStream } from './nats/nats-server.js';

const available = await natsAvailable();

describe.runIf(available)('admission hooks on a NatsBus', () => {
  const stream = uniqueStream('AD');
  let bus: NatsBus;

  beforeEach(async () => {
    bus = await NatsBus.connect({ servers: NATS_URL, stream });
  });
  afterEach(async () => {
    await bus.close();
    await dropNamespace(NATS_URL, stream);
  });

  it('defer brings a delivery back later without spending an attempt, its key held', async () => {
    const sub = await bus.subscribe('r', options(['ad.x']));
    await bus.publish([
      event('ad.x', { id: 'one', partitionkey: 'k' }),
      event('ad.x', { id: 'two', partitionkey: 'k' }),
    ]);
    const [first] = await sub.pull({ max: 5, waitMs: 2_000 });
    expect(first?.event.id).toBe('one');
    expect(first?.key).toBe('k');
    const deferredAt = Date.now();
    await first!.defer(300, 'rate limited');
    const [again] = await sub.pull({ max: 5, waitMs: 3_000 });
    // The key's next event did not overtake it.
    expect(again?.event.id).toBe('one');
    expect(again?.attempt).toBe(1);
    expect(Date.now() - deferredAt).toBeGreaterThanOrEqual(250);
    await again!.ack();
    const [next] = await sub.pull({ max: 5, waitMs: 2_000 });
    expect(next?.event.id).toBe('two');
  });

  it('cancel ends a delivery for good, publishes its events and frees its key', async () => {
    const sub = await bus.subscribe('r', options(['ad.x'], { leaseMs: 800 }));
    const watcher = await bus.subscribe('w', options(['agentd.run.cancelled']));
    await bus.publish([
      event('ad.x', { id: 'one', partitionkey: 'k' }),
      event('ad.x', { id: 'two', partitionkey: 'k' }),
    ]);
    const [first] = await sub.pull({ max: 5, waitMs: 2_000 });
    await first!.cancel('replaced', { publish: [event('agentd.run.cancelled', { id: 'c-1' })] });
    const [next] = await sub.pull({ max: 5, waitMs: 2_000 });
    expect(next?.event.id).toBe('two');
    await next!.ack();
    const [announced] = await watcher.pull({ max: 5, waitMs: 2_000 });
    expect(announced?.event.id).toBe('c-1');
    // Past the old lease: the cancelled one never comes back.
    expect(await sub.pull({ max: 5, waitMs: 1_500 })).toEqual([]);
  });

  it('has no key on a route that ignores partition keys', async () => {
    const sub = await bus.subscribe('r', options(['ad.x'], { ordering: 'none' }));
    await bus.publish([event('ad.x', { partitionkey: 'k' })]);
    const [d] = await sub.pull({ max: 1, waitMs: 2_000 });
    expect(d?.key).toBeUndefined();
  });

  it("counts each route's unfinished deliveries and names the routes a type reaches", async () => {
    const a = await bus.subscribe('a', options(['ad.x']));
    await bus.subscribe('b', options(['ad.*']));
    await bus.subscribe('c', options(['other.x']));
    expect([...bus.subscribersOf('ad.x')].sort()).toEqual(['a', 'b']);
    expect(bus.subscribersOf('nothing.here')).toEqual([]);
    await bus.publish([event('ad.x'), event('ad.x'), event('ad.x')]);
    const [d] = await a.pull({ max: 1, waitMs: 2_000 });
    await d!.ack();
    // Cached for up to 250 ms: ask until the counts are current.
    let backlogs = await bus.backlogs();
    const deadline = Date.now() + 5_000;
    while (backlogs.get('a') !== 2 && Date.now() < deadline) backlogs = await bus.backlogs();
    expect(Object.fromEntries(backlogs)).toEqual({ a: 2, b: 3, c: 0 });
  });

  it('refuses route options it does not implement, naming them', async () => {
    await expect(
      bus.subscribe('r', options(['ad.x'], { batch: { maxSize: 10, maxWaitMs: 100 } })),
    ).rejects.toThrow(/route r: the route option "batch" needs the SQLite bus/);
    // Singleton, cancelOn and debounce are decided at the key lock: they need ordering 'key'.
    await expect(
      bus.subscribe('r', options(['ad.x'], { ordering: 'none', debounce: { waitMs: 10 } })),
    ).rejects.toThrow(`route r: the route option "debounce" needs ordering 'key' on the NATS bus`);
    await expect(
      bus.subscribe('r', options(['ad.x'], { debounce: { waitMs: 10, maxWaitMs: 5 } })),
    ).rejects.toThrow(
      /debounce.maxWaitMs: expected a whole number of ms of at least waitMs \(10\)/,
    );
  });
});

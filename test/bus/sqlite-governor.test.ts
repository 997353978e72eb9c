// SqliteBus governor features at fan-out and claim: route keys, fairness, singleton, cancelOn,
// defer, backlogs. SQLite only (fairness is SQLite's alone; the NATS bus has its own tests:
// nats-singleton, nats-debounce).
import { describe, expect, it } from 'vitest';
import type { Delivery } from '../../src/bus/bus.js';
import { SqliteInspector } from '../../src/bus/sqlite/inspect-sql.js';
import { validateConfig } from '../../src/core/config.js';
import { RunCancelledError } from '../../src/core/errors.js';
import { on } from '../../src/core/route.js';
import { subscriptionFor } from '../../src/router/router.js';
import { event, options } from './conformance.js';
import { eventually, runsOf, store } from './sqlite-harness.js';

const pr = (type: string, n: number, extra: Record<string, unknown> = {}) =>
  event(type, { data: { pr: n }, ...extra });

async function drain(pull: () => Promise<Delivery[]>, count: number): Promise<Delivery[]> {
  const got: Delivery[] = [];
  while (got.length < count) {
    const batch = await pull();
    if (batch.length === 0) throw new Error(`only ${got.length} of ${count} were claimable`);
    got.push(...batch);
  }
  return got;
}

describe('SqliteBus route keys', () => {
  it('orders by the key expression evaluated at fan-out, and reports it as Delivery.key', async () => {
    const bus = store().open();
    const sub = await bus.subscribe('s', options(['k.x'], { key: 'data.pr' }));
    await bus.publish([
      pr('k.x', 7, { partitionkey: 'a' }),
      pr('k.x', 7, { partitionkey: 'b' }),
      pr('k.x', 8, { partitionkey: 'a' }),
    ]);
    const first = await sub.pull({ max: 10, waitMs: 0 });
    expect(first.map((d) => [d.key, (d.event.data as { pr: number }).pr])).toEqual([
      ['7', 7],
      ['8', 8],
    ]);
    await first[0]!.ack();
    const [next] = await sub.pull({ max: 10, waitMs: 0 });
    expect(next?.event.partitionkey).toBe('b');
  });

  it('falls back to the partitionkey, and gives no key to an event missing the path', async () => {
    const bus = store().open();
    const plain = await bus.subscribe('plain', options(['k.y']));
    const keyed = await bus.subscribe('keyed', options(['k.y'], { key: '{subject}#{data.pr}' }));
    await bus.publish([event('k.y', { partitionkey: 'p', subject: 'repo', data: { pr: 1 } })]);
    await bus.publish([event('k.y', { data: { pr: 2 } })]);
    expect((await plain.pull({ max: 2, waitMs: 0 })).map((d) => d.key)).toEqual(['p', undefined]);
    expect((await keyed.pull({ max: 2, waitMs: 0 })).map((d) => d.key)).toEqual([
      'repo#1',
      undefined,
    ]);
  });

  it('fans out by the stored options when another process publishes into the store', async () => {
    const shared = store();
    const daemon = shared.open();
    const sub = await daemon.subscribe(
      's',
      options(['o.x'], { key: 'data.pr', singleton: 'skip' }),
    );
    const cli = shared.open();
    await cli.publish([pr('o.x', 1), pr('o.x', 1), pr('o.x', 2)]);
    const got = await sub.pull({ max: 10, waitMs: 0 });
    expect(got.map((d) => d.key)).toEqual(['1', '2']);
    expect(runsOf(daemon, 's').map((r) => r.status)).toEqual(['running', 'skipped', 'running']);
  });

  it('refuses options fan-out could not apply, naming the subscription', async () => {
    const bus = store().open();
    await expect(bus.subscribe('bad', options(['b.x'], { key: 'data..pr' }))).rejects.toThrow(
      /subscription "bad": key: key expression "data..pr": path "data..pr" has an empty segment/,
    );
    await expect(
      bus.subscribe(
        'both',
        options(['b.x'], { batch: { maxSize: 2, maxWaitMs: 10 }, debounce: { waitMs: 5 } }),
      ),
    ).rejects.toThrow(/subscription "both": batch cannot be combined with debounce/);
    await expect(
      bus.subscribe('weights', options(['b.x'], { fairness: { weights: { a: 0 } } })),
    ).rejects.toThrow(/fairness.weights\["a"\]: expected a positive number, got 0/);
  });
});

describe('SqliteBus fairness', () => {
  async function claimOrder(fair: boolean): Promise<string[]> {
    const bus = store().open();
    const sub = await bus.subscribe(
      's',
      options(['f.x'], { ordering: 'none', ...(fair ? { fairness: {} } : {}) }),
    );
    const flood = Array.from({ length: 1_000 }, (_, i) =>
      event('f.x', { partitionkey: 'A', data: i }),
    );
    await bus.publish(flood);
    await bus.publish([event('f.x', { partitionkey: 'B' })]);
    const order: string[] = [];
    for (let i = 0; i < 10; i++) {
      const [d] = await sub.pull({ max: 1, waitMs: 0 });
      order.push(d!.key!);
      await d!.ack();
    }
    return order;
  }

  it("serves a key with 1 event within the first claims behind a key with 1,000 (ordering 'none')", async () => {
    const order = await claimOrder(true);
    expect(order.indexOf('B')).toBeGreaterThanOrEqual(0);
    expect(order.indexOf('B')).toBeLessThan(3);
  });

  it('serves publish order without fairness (the case fairness exists for)', async () => {
    expect(await claimOrder(false)).not.toContain('B');
  });

  it('shares claims by weight, also when many are claimed at once', async () => {
    const bus = store().open();
    const sub = await bus.subscribe(
      's',
      options(['w.x'], { ordering: 'none', fairness: { weights: { heavy: 3 } } }),
    );
    const events = ['heavy', 'light'].flatMap((key) =>
      Array.from({ length: 100 }, () => event('w.x', { partitionkey: key })),
    );
    await bus.publish(events);
    const claimed = await drain(() => sub.pull({ max: 8, waitMs: 0 }), 40);
    const heavy = claimed.slice(0, 40).filter((d) => d.key === 'heavy').length;
    expect(heavy).toBeGreaterThanOrEqual(28);
    expect(heavy).toBeLessThanOrEqual(32);
  });

  it('claims rows queued before fairness was switched on first, then keys in turn', async () => {
    const shared = store();
    let bus = shared.open();
    await bus.subscribe('s', options(['r.x'], { ordering: 'none' }));
    await bus.publish([event('r.x', { partitionkey: 'old' })]);
    await bus.close();
    bus = shared.open();
    const sub = await bus.subscribe('s', options(['r.x'], { ordering: 'none', fairness: {} }));
    await bus.publish(Array.from({ length: 5 }, () => event('r.x', { partitionkey: 'A' })));
    await bus.publish([event('r.x', { partitionkey: 'B' })]);
    const keys = (await drain(() => sub.pull({ max: 1, waitMs: 0 }), 3)).map((d) => d.key);
    expect(keys).toEqual(['old', 'A', 'B']);
  });
});

describe('SqliteBus singleton', () => {
  it("'skip' ends a newer event of a busy key at once as skipped, with its reason", async () => {
    const bus = store().open();
    const sub = await bus.subscribe('s', options(['s.x'], { key: 'data.pr', singleton: 'skip' }));
    await bus.publish([pr('s.x', 1, { id: 'first' }), pr('s.x', 1, { id: 'second' })]);
    const [d] = await sub.pull({ max: 10, waitMs: 0 });
    expect(d?.event.id).toBe('first');
    const skipped = runsOf(bus, 's')[1];
    expect(skipped?.status).toBe('skipped');
    expect(skipped?.reason).toMatch(/singleton: key "1" already has an unfinished run/);
    await d!.ack();
    await bus.publish([pr('s.x', 1, { id: 'third' })]);
    expect((await sub.pull({ max: 10, waitMs: 0 }))[0]?.event.id).toBe('third');
  });

  it("'replace' cancels the queued older delivery of the key", async () => {
    const bus = store().open();
    const sub = await bus.subscribe(
      's',
      options(['q.x'], { key: 'data.pr', singleton: 'replace' }),
    );
    await bus.publish([pr('q.x', 1, { id: 'old' })]);
    await bus.publish([pr('q.x', 1, { id: 'new' })]);
    const got = await sub.pull({ max: 10, waitMs: 0 });
    expect(got.map((d) => d.event.id)).toEqual(['new']);
    expect(runsOf(bus, 's')[0]).toMatchObject({
      status: 'cancelled',
      reason: 'singleton: replaced by event new',
    });
    expect(await bus.dlq.list()).toHaveLength(0);
  });

  it("'replace' asks a running delivery to stop: listeners told, extend throws, cancel settles it", async () => {
    const bus = store().open();
    const sub = await bus.subscribe(
      's',
      options(['l.x'], { key: 'data.pr', singleton: 'replace' }),
    );
    const told: [string, string][] = [];
    const stop = sub.onCancel!((id, reason) => told.push([id, reason]));
    await bus.publish([pr('l.x', 1, { id: 'running' })]);
    const [running] = await sub.pull({ max: 1, waitMs: 0 });
    await bus.publish([pr('l.x', 1, { id: 'newer' })]);
    expect(told).toEqual([[running!.deliveryId, 'singleton: replaced by event newer']]);
    await expect(running!.extend()).rejects.toBeInstanceOf(RunCancelledError);
    // The newer one waits behind the running one until that is settled.
    expect(await sub.pull({ max: 1, waitMs: 0 })).toHaveLength(0);
    await running!.cancel('replaced', { publish: [event('run.cancelled.note')] });
    const [newer] = await sub.pull({ max: 1, waitMs: 0 });
    expect(newer?.event.id).toBe('newer');
    expect(runsOf(bus, 's')[0]).toMatchObject({ status: 'cancelled', reason: 'replaced' });
    stop();
  });

  it('ends a stopped lease as cancelled on ack (throwing) and on lease expiry (no retry)', async () => {
    const shared = store();
    const bus = shared.open();
    const sub = await bus.subscribe(
      's',
      options(['a.x'], { key: 'data.pr', singleton: 'replace', leaseMs: 1_000 }),
    );
    await bus.publish([pr('a.x', 1), pr('a.x', 2)]);
    const [one, two] = await sub.pull({ max: 2, waitMs: 0 });
    await bus.publish([pr('a.x', 1), pr('a.x', 2)]);
    await expect(one!.ack({ publish: [event('never.stored')] })).rejects.toThrow(
      /run cancelled: singleton: replaced by event/,
    );
    // Nothing the cancelled run brought along is kept.
    expect(
      new SqliteInspector(bus.db).events({ limit: 10 }).map((e) => e.event.type),
    ).not.toContain('never.stored');
    await shared.clock.advanceBy(2_000);
    const next = await sub.pull({ max: 10, waitMs: 0 });
    expect(next.map((d) => d.key).sort()).toEqual(['1', '2']);
    expect(next.every((d) => d.attempt === 1)).toBe(true);
    const statuses = runsOf(bus, 's').map((r) => r.status);
    expect(statuses).toEqual(['cancelled', 'cancelled', 'running', 'running']);
    await expect(two!.ack()).rejects.toMatchObject({ code: 'LEASE_LOST' });
  });
});

describe('SqliteBus cancelOn', () => {
  const opts = options(['pr.opened'], {
    key: 'data.pr',
    cancelOn: [{ type: 'pr.closed', match: { data: { merged: false } } }],
  });

  it('cancels the queued delivery of the same key on a matching event, which gets none itself', async () => {
    const bus = store().open();
    const sub = await bus.subscribe('s', opts);
    expect(bus.hasSubscribers('pr.closed')).toBe(true);
    expect(bus.subscribersOf('pr.closed')).toEqual([]);
    expect(bus.subscribersOf('pr.opened')).toEqual(['s']);
    await bus.publish([pr('pr.opened', 1), pr('pr.opened', 2)]);
    await bus.publish([event('pr.closed', { data: { pr: 1, merged: true } })]);
    await bus.publish([event('pr.closed', { id: 'close-2', data: { pr: 2, merged: false } })]);
    const got = await sub.pull({ max: 10, waitMs: 0 });
    expect(got.map((d) => d.key)).toEqual(['1']);
    const runs = runsOf(bus, 's');
    expect(runs.map((r) => r.status)).toEqual(['running', 'cancelled']);
    expect(runs[1]?.reason).toBe('cancelOn: pr.closed close-2');
  });

  it('tells this process when another process publishes the cancelling event', async () => {
    const shared = store();
    const daemon = shared.open();
    const sub = await daemon.subscribe('s', opts);
    const told: string[] = [];
    sub.onCancel!((id) => told.push(id));
    await daemon.publish([pr('pr.opened', 3)]);
    const [running] = await sub.pull({ max: 1, waitMs: 0 });
    // Another process's commits are looked for while a consumer waits.
    const stop = new AbortController();
    const waiting = sub.pull({ max: 1, waitMs: 10_000, signal: stop.signal });
    await shared.open().publish([event('pr.closed', { data: { pr: 3, merged: false } })]);
    await eventually(() => told.length === 1);
    expect(told).toEqual([running!.deliveryId]);
    await running!.cancel('closed');
    stop.abort();
    expect(await waiting).toHaveLength(0);
  }, 20_000);
});

describe('SqliteBus defer and backlogs', () => {
  it('defer puts a delivery back for later without an attempt, holding its key, with its reason', async () => {
    const shared = store();
    const bus = shared.open();
    const sub = await bus.subscribe('s', options(['d.x']));
    await bus.publish([event('d.x', { partitionkey: 'k', id: 'one' })]);
    await bus.publish([event('d.x', { partitionkey: 'k', id: 'two' })]);
    const [d] = await sub.pull({ max: 10, waitMs: 0 });
    await d!.defer(5_000, 'rate limit');
    expect(runsOf(bus, 's')[0]).toMatchObject({ status: 'queued', reason: 'deferred: rate limit' });
    await shared.clock.advanceBy(4_999);
    expect(await sub.pull({ max: 10, waitMs: 0 })).toHaveLength(0);
    await shared.clock.advanceBy(1);
    const [again] = await sub.pull({ max: 10, waitMs: 0 });
    expect(again).toMatchObject({ attempt: 1, event: { id: 'one' } });
    expect(runsOf(bus, 's')[0]?.reason).toBeUndefined();
  });

  it('wakes a waiting pull when the manual clock reaches a deferred delivery', async () => {
    const shared = store();
    const bus = shared.open();
    const sub = await bus.subscribe('s', options(['w.x']));
    await bus.publish([event('w.x')], { delayMs: 60_000 });
    const pulled = sub.pull({ max: 1, waitMs: 30_000 });
    await eventually(() => shared.clock.pending > 0);
    await shared.clock.advanceBy(60_000);
    expect(await pulled).toHaveLength(1);
  });

  it('counts unfinished deliveries per active subscription', async () => {
    const bus = store().open();
    const a = await bus.subscribe('a', options(['b.*']));
    await bus.subscribe('b', options(['b.x'], { batch: { maxSize: 5, maxWaitMs: 1_000 } }));
    await bus.subscribe('idle', options(['nothing']));
    await bus.publish([
      event('b.x', { partitionkey: 'k' }),
      event('b.x', { partitionkey: 'k' }),
      event('b.y'),
    ]);
    const [leased] = await a.pull({ max: 1, waitMs: 0 });
    await leased!.ack();
    expect(Object.fromEntries(await bus.backlogs())).toEqual({ a: 2, b: 2, idle: 0 });
    await bus.retainSubscriptions(['a']);
    expect(Object.fromEntries(bus.countBacklogs())).toEqual({ a: 2 });
  });
});

describe('subscriptionFor', () => {
  const handler = () => undefined;

  it('carries a route’s governor options onto its subscription, the key from wherever it is named', () => {
    const [route] = validateConfig(
      {
        routes: [
          on('pr.*', {
            handler,
            fairness: { weights: { big: 2 } },
            singleton: { key: 'data.pr', mode: 'replace' },
            cancelOn: [{ type: 'pr.closed', match: { data: { merged: false } } }],
            debounce: { waitMs: 100, maxWaitMs: 1_000 },
          }),
        ],
      },
      'cfg.ts',
    ).routes;
    expect(subscriptionFor(route!)).toMatchObject({
      key: 'data.pr',
      fairness: { weights: { big: 2 } },
      singleton: 'replace',
      cancelOn: [{ type: 'pr.closed', match: { data: { merged: false } } }],
      debounce: { waitMs: 100, maxWaitMs: 1_000 },
    });
    const [batching] = validateConfig(
      { routes: [on('a.x', { handler, batch: { maxSize: 5, maxWaitMs: 50, key: 'subject' } })] },
      'cfg.ts',
    ).routes;
    const sub = subscriptionFor(batching!);
    expect(sub).toMatchObject({ key: 'subject', batch: { maxSize: 5, maxWaitMs: 50 } });
    expect(sub).not.toHaveProperty('singleton');
  });

  it('refuses a route whose keys disagree, naming it', () => {
    const route = {
      ...on('a.x', { handler, key: 'subject', singleton: { key: 'data.n', mode: 'skip' } }),
      name: 'guard',
    };
    expect(() => subscriptionFor(route)).toThrow(/route "guard": the route has one key/);
  });
});

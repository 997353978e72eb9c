// Route keys on NATS (SubscriptionOptions.key): deliveries are ordered by the key expression's value
// on the event, not by its partitionkey, across workers; events without the key run unordered; bad
// expressions and the options NATS does not implement are refused by name.
import { afterEach, describe, expect, it } from 'vitest';
import type { Delivery } from '../../src/bus/bus.js';
import { NatsBus } from '../../src/bus/nats/nats-bus.js';
import { event, options } from './conformance.js';
import { dropNamespace, NATS_URL, natsAvailable, uniqueStream } from './nats/nats-server.js';

const available = await natsAvailable();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** `count` buses on one fresh namespace, as many worker processes would hold. */
async function buses(count: number): Promise<NatsBus[]> {
  const stream = uniqueStream('KEY');
  const open = await Promise.all(
    Array.from({ length: count }, () => NatsBus.connect({ servers: NATS_URL, stream })),
  );
  cleanups.push(async () => {
    await Promise.all(open.map((bus) => bus.close()));
    await dropNamespace(NATS_URL, stream);
  });
  return open;
}

const byPr = (types: string[]) => options(types, { key: 'data.pr' });
const dataOf = (d: Delivery) => d.event.data as { pr?: number; n: number };

describe.runIf(available)('NatsBus route keys', () => {
  it('orders by the route key across two workers, whatever the partitionkeys', async () => {
    const [a, b] = await buses(2);
    const subs = [
      await a!.subscribe('review', byPr(['pr.push'])),
      await b!.subscribe('review', byPr(['pr.push'])),
    ];
    const PRS = 6;
    const PER_PR = 50;
    const events = [];
    for (let n = 0; n < PER_PR; n++)
      for (let pr = 0; pr < PRS; pr++)
        // Partition keys that group nothing the route cares about: none, or one per event.
        events.push(
          event('pr.push', { data: { pr, n }, ...(n % 2 === 0 ? {} : { partitionkey: `p${n}` }) }),
        );
    for (let i = 0; i < events.length; i += 100) await a!.publish(events.slice(i, i + 100));

    const seen = new Map<string, number[]>();
    const inFlight = new Set<string>();
    const workersSeen = new Set<number>();
    let overlap = 0;
    let handled = 0;
    const worker = async (w: number) => {
      while (handled < PRS * PER_PR) {
        const [d] = await subs[w % 2]!.pull({ max: 1, waitMs: 100 });
        if (d === undefined) continue;
        const key = d.key!;
        expect(key).toBe(String(dataOf(d).pr));
        if (inFlight.has(key)) overlap++;
        inFlight.add(key);
        workersSeen.add(w % 2);
        await sleep(Math.random() * 2);
        seen.set(key, [...(seen.get(key) ?? []), dataOf(d).n]);
        inFlight.delete(key);
        handled++;
        await d.ack();
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
    expect(overlap).toBe(0);
    expect(workersSeen).toEqual(new Set([0, 1]));
    for (let pr = 0; pr < PRS; pr++)
      expect(seen.get(String(pr))).toEqual(Array.from({ length: PER_PR }, (_, n) => n));
  });

  it('holds a route key behind its head, not the partitionkey', async () => {
    const [bus] = await buses(1);
    const sub = await bus!.subscribe('review', byPr(['pr.push']));
    await bus!.publish([
      event('pr.push', { partitionkey: 'X', data: { pr: 1, n: 1 } }),
      event('pr.push', { partitionkey: 'Y', data: { pr: 1, n: 2 } }),
      event('pr.push', { partitionkey: 'X', data: { pr: 2, n: 3 } }),
    ]);
    const first = await sub.pull({ max: 10, waitMs: 1_000 });
    // Same partitionkey X, different PRs: both run; PR 1's second event waits for its first.
    expect(first.map((d) => dataOf(d).n).sort()).toEqual([1, 3]);
    await first.find((d) => dataOf(d).n === 1)!.nack({ delayMs: 200, error: 'wait' });
    await first.find((d) => dataOf(d).n === 3)!.ack();
    const [retry] = await sub.pull({ max: 10, waitMs: 2_000 });
    expect(dataOf(retry!).n).toBe(1);
    await retry!.ack();
    const [next] = await sub.pull({ max: 10, waitMs: 1_000 });
    expect(dataOf(next!).n).toBe(2);
  });

  it('runs a new key at once behind a deep backlog of another', async () => {
    const [bus] = await buses(1);
    const sub = await bus!.subscribe('review', byPr(['pr.push']));
    const hot = Array.from({ length: 300 }, (_, n) => event('pr.push', { data: { pr: 1, n } }));
    await bus!.publish(hot);
    await bus!.publish([event('pr.push', { data: { pr: 2, n: 0 } })]);
    const [head] = await sub.pull({ max: 1, waitMs: 1_000 });
    expect(dataOf(head!)).toEqual({ pr: 1, n: 0 });
    // PR 1's head still runs: of everything else, only PR 2's event may run.
    const got: Delivery[] = [];
    while (got.length === 0) got.push(...(await sub.pull({ max: 10, waitMs: 2_000 })));
    expect(got.map(dataOf)).toEqual([{ pr: 2, n: 0 }]);
    await head!.ack();
    const [second] = await sub.pull({ max: 1, waitMs: 2_000 });
    expect(dataOf(second!)).toEqual({ pr: 1, n: 1 });
  });

  it('runs events the key expression finds nothing in unordered, with no key', async () => {
    const [bus] = await buses(1);
    const sub = await bus!.subscribe('review', byPr(['pr.push']));
    await bus!.publish(
      [1, 2, 3].map((n) => event('pr.push', { partitionkey: 'same', data: { n } })),
    );
    const all = await sub.pull({ max: 10, waitMs: 1_000 });
    expect(all).toHaveLength(3);
    expect(all.map((d) => d.key)).toEqual([undefined, undefined, undefined]);
  });

  it('gives the route key to a route that does not order by it', async () => {
    const [bus] = await buses(1);
    const sub = await bus!.subscribe(
      'rate',
      options(['pr.push'], { key: 'data.pr', ordering: 'none' }),
    );
    await bus!.publish([1, 2].map((n) => event('pr.push', { data: { pr: 7, n } })));
    const both = await sub.pull({ max: 10, waitMs: 1_000 });
    expect(both.map((d) => d.key)).toEqual(['7', '7']);
  });

  it('refuses a bad key expression and the options it does not implement, by name', async () => {
    const [bus] = await buses(1);
    await expect(bus!.subscribe('bad', options(['pr.push'], { key: 'data..pr' }))).rejects.toThrow(
      /key expression "data\.\.pr": path "data\.\.pr" has an empty segment/,
    );
    await expect(
      bus!.subscribe('fair', options(['pr.push'], { key: 'data.pr', fairness: {} })),
    ).rejects.toThrow(
      'route fair: the route option "fairness" needs the SQLite bus for now; the NATS bus does not implement it yet',
    );
    expect(bus!.routes().map((r) => r.name)).toEqual([]);
  });
});

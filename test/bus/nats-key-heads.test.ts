// The key lock with route keys, asked directly as two workers would ask it: a message may take its
// route key only when no earlier message of that key (whatever its partitionkey) is unfinished.
import { afterEach, describe, expect, it } from 'vitest';
import { compilePatterns } from '../../src/core/type-pattern.js';
import { KeyLocks } from '../../src/bus/nats/key-lock.js';
import { NatsBus } from '../../src/bus/nats/nats-bus.js';
import { routeKeyToken, subscriptionToken } from '../../src/bus/nats/names.js';
import { RouteKey } from '../../src/bus/nats/route-key.js';
import { event, options } from './conformance.js';
import { dropNamespace, NATS_URL, natsAvailable, uniqueStream } from './nats/nats-server.js';

const available = await natsAvailable();
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

const tok = (pr: number) => routeKeyToken('data.pr', String(pr));

describe.runIf(available)('KeyLocks over route keys', () => {
  it('makes a later message of a route key wait for an earlier one under another partitionkey', async () => {
    const stream = uniqueStream('KH');
    const bus = await NatsBus.connect({ servers: NATS_URL, stream });
    cleanups.push(async () => {
      await bus.close();
      await dropNamespace(NATS_URL, stream);
    });
    const routeOptions = options(['pr.push'], { key: 'data.pr' });
    // Creates the route's consumer (its acknowledged floor bounds the reads); nothing is pulled.
    await bus.subscribe('review', routeOptions);
    await bus.publish([
      event('pr.push', { partitionkey: 'X', data: { pr: 1 } }), // seq 1
      event('other.push', { data: { pr: 1 } }), // seq 2: not the route's type
      event('pr.push', { partitionkey: 'X', data: { pr: 2 } }), // seq 3
      event('pr.push', { partitionkey: 'Y', data: { pr: 1 } }), // seq 4
      event('pr.push', { data: { pr: 1 } }), // seq 5
    ]);
    const subToken = subscriptionToken('review');
    const locksOfWorker = () =>
      new KeyLocks(
        bus.store,
        subToken,
        new RouteKey(routeOptions).heads(
          bus.store,
          bus.names,
          subToken,
          routeOptions.types,
          compilePatterns(routeOptions.types),
        ),
        1,
      );
    const [a, b] = [locksOfWorker(), locksOfWorker()];

    // Worker b got seq 4 first: seq 1 (same PR, another partitionkey) is its head, not seq 4.
    expect(await b.acquire(4, tok(1), 1)).toBe('wait');
    expect(await b.acquire(3, tok(2), 1)).toBe('run');
    expect(await a.acquire(1, tok(1), 1)).toBe('run');
    expect(await b.acquire(4, tok(1), 1, { recheck: true })).toBe('wait');

    const released = await a.release(1, tok(1), 1);
    expect(released.revision).toBeGreaterThan(0);
    // A hint, when there is one, names the true next head.
    expect([0, 4]).toContain(released.next);
    expect(await b.acquire(5, tok(1), 1)).toBe('wait');
    expect(await b.acquire(4, tok(1), 1, { recheck: true })).toBe('run');
    expect(await a.acquire(1, tok(1), 2)).toBe('finished');
  });
});

// Rate limits shared through the governor's KV bucket on the shared nats-server. Each "worker" is a
// NatsGovernorStore on a connection of its own, as another process would hold; all of them share a
// manual clock, so refills happen only when a test moves time and the counts are exact.
import { Kvm } from '@nats-io/kv';
import { afterEach, describe, expect, it } from 'vitest';
import { NatsStore } from '../../src/bus/nats/nats-store.js';
import type { RateLimit } from '../../src/core/route.js';
import { keyToken } from '../../src/governor/kv-change.js';
import type { BucketsEntry } from '../../src/governor/kv-token-buckets.js';
import { NatsGovernorStore } from '../../src/governor/nats-governor-store.js';
import type { ProviderLimits, ProviderPermit } from '../../src/governor/provider-limiter.js';
import { createLogger } from '../../src/observe/log.js';
import { dropNamespace, NATS_URL, natsAvailable, uniqueStream } from '../bus/nats/nats-server.js';
import { ManualClock } from '../fixtures/manual-clock.js';
import { waitFor } from '../runtime/worker-harness.js';

const available = await natsAvailable();
const log = createLogger({ level: 'silent' });
const T0 = Date.parse('2025-03-14T12:00:00.000Z');
const never = new AbortController().signal;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** `count` workers on one fresh namespace, sharing `clock`. */
async function workers(count: number, clock: ManualClock) {
  const stream = uniqueStream('RATE');
  const stores: NatsStore[] = [];
  cleanups.push(async () => {
    await Promise.all(stores.map((store) => store.close()));
    await dropNamespace(NATS_URL, stream);
  });
  const opened = [];
  for (let i = 0; i < count; i++) {
    const store = await NatsStore.open({ servers: NATS_URL, stream, retentionMs: 60 * 60_000 });
    stores.push(store);
    const governor = await NatsGovernorStore.open(store);
    opened.push({
      governor,
      route: (limits: RateLimit[]) => governor.rateLimits.routeLimit('review', limits, clock),
      provider: (limits: ProviderLimits) =>
        governor.rateLimits.providerLimiter('anthropic', limits, { clock, log }),
    });
  }
  const first = stores[0] as NatsStore;
  /** The provider's entry as stored (for writes the limiter makes in the background). */
  const providerEntry = async () => {
    const kv = await new Kvm(first.js).open(`${stream}_governor`);
    return (await kv.get(`prov.${keyToken('anthropic')}`))?.json<BucketsEntry>();
  };
  return { workers: opened, providerEntry };
}

if (available) {
  describe('route rate limits shared on NATS', () => {
    it('admits no more than the limit across three workers, then one per refill', async () => {
      const clock = new ManualClock(T0);
      const {
        workers: [a, b, c],
      } = await workers(3, clock);
      const limits = [{ limit: 5, periodMs: 60_000 }];
      const gates = [a!.route(limits), b!.route(limits), c!.route(limits)];
      const taken = await Promise.all(gates.map((gate) => gate.takeUpTo(4)));
      expect(taken.reduce((sum, n) => sum + n, 0)).toBe(5);
      expect(await Promise.all(gates.map((gate) => gate.takeUpTo(1)))).toEqual([0, 0, 0]);
      // Each worker now knows the bucket is empty and when the next token comes: 12 s.
      for (const gate of gates) expect(gate.msUntilAvailable()).toBe(12_000);
      await clock.advanceBy(12_000);
      const next = await Promise.all(gates.map((gate) => gate.takeUpTo(3)));
      expect(next.reduce((sum, n) => sum + n, 0)).toBe(1);
    });

    it('takes back what a pull did not use, so an idle poll costs nothing', async () => {
      const clock = new ManualClock(T0);
      const {
        workers: [a, b],
      } = await workers(2, clock);
      const limits = [{ limit: 3, periodMs: 60_000 }];
      const [first, second] = [a!.route(limits), b!.route(limits)];
      for (let poll = 0; poll < 5; poll++) {
        expect(await first.takeUpTo(1)).toBe(1);
        await first.giveBack(1);
      }
      expect(await second.takeUpTo(10)).toBe(3);
      await second.giveBack(1);
      expect(await first.takeUpTo(10)).toBe(1);
      expect(first.available()).toBe(0);
    });

    it('applies every route-wide limit of a list together', async () => {
      const clock = new ManualClock(T0);
      const {
        workers: [a, b],
      } = await workers(2, clock);
      const limits = [
        { limit: 10, periodMs: 60_000 },
        { limit: 2, periodMs: 1_000 },
      ];
      expect(await a!.route(limits).takeUpTo(5)).toBe(2);
      expect(await b!.route(limits).takeUpTo(5)).toBe(0);
      await clock.advanceBy(1_000);
      expect(await b!.route(limits).takeUpTo(5)).toBe(2);
      // The minute's bucket holds 10 - 4 (+ what 1 s refilled): the per-second one binds again.
      await clock.advanceBy(1_000);
      expect(await a!.route(limits).takeUpTo(5)).toBe(2);
    });

    it('limits each key across workers, other keys going on', async () => {
      const clock = new ManualClock(T0);
      const {
        workers: [a, b],
      } = await workers(2, clock);
      const limits: RateLimit[] = [{ limit: 2, periodMs: 60_000, per: 'key' }];
      const [first, second] = [a!.route(limits), b!.route(limits)];
      const waits = await Promise.all([
        first.takeKey('pr-1'),
        second.takeKey('pr-1'),
        first.takeKey('pr-1'),
        second.takeKey('pr-1'),
      ]);
      expect(waits.filter((w) => w === 0)).toHaveLength(2);
      expect(waits.filter((w) => w > 0)).toEqual([30_000, 30_000]);
      expect(await second.takeKey('pr-2')).toBe(0);
      expect(await first.takeKey(undefined)).toBe(0);
      await clock.advanceBy(30_000);
      expect(await second.takeKey('pr-1')).toBe(0);
      expect(await first.takeKey('pr-1')).toBe(30_000);
    });

    it('never overdraws with eight workers racing on one bucket', async () => {
      const clock = new ManualClock(T0);
      const { workers: eight } = await workers(8, clock);
      const gates = eight.map((w) => w.route([{ limit: 50, periodMs: 60_000 }]));
      const taken = await Promise.all(
        gates.flatMap((gate) => Array.from({ length: 10 }, () => gate.takeUpTo(1))),
      );
      expect(taken.reduce((sum, n) => sum + n, 0)).toBe(50);
    });

    it('sweeps buckets that are full again, keeping those still refilling', async () => {
      const clock = new ManualClock(T0);
      const {
        workers: [a],
      } = await workers(1, clock);
      const gate = a!.route([
        { limit: 1, periodMs: 60_000, per: 'key' },
        { limit: 5, periodMs: 1_000 },
      ]);
      expect(await gate.takeKey('old')).toBe(0);
      expect(await gate.takeUpTo(2)).toBe(2);
      const cutoffs = { windowsBefore: 0, chainsBefore: 0 };
      // One second on the route's bucket is full; the key's is not until a minute has passed.
      expect(await a!.governor.sweep({ ...cutoffs, now: T0 + 1_000 })).toBe(1);
      expect(await a!.governor.sweep({ ...cutoffs, now: T0 + 60_000 })).toBe(1);
      // Gone is the same as full: the key gets its token again.
      await clock.advanceBy(60_000);
      expect(await gate.takeKey('old')).toBe(0);
    });
  });

  describe('provider limits shared on NATS', () => {
    it('holds requestsPerMinute across two workers, the waiting one going at the next token', async () => {
      const clock = new ManualClock(T0);
      const {
        workers: [a, b],
      } = await workers(2, clock);
      const [first, second] = [
        a!.provider({ requestsPerMinute: 3 }),
        b!.provider({ requestsPerMinute: 3 }),
      ];
      await first.acquire({ tokens: 0 }, never);
      await second.acquire({ tokens: 0 }, never);
      await first.acquire({ tokens: 0 }, never);
      let granted = false;
      const waiting = second.acquire({ tokens: 0 }, never).then((permit) => {
        granted = true;
        return permit;
      });
      // It polls at the time the bucket names (20 s), not before.
      await waitFor(() => clock.nextDueAt === T0 + 20_000, 'a wait for the next request');
      await clock.advanceBy(19_999);
      expect(granted).toBe(false);
      await clock.advanceBy(1);
      await waiting;
      expect(granted).toBe(true);
    });

    it('shares tokensPerMinute, and a settle gives back what the estimate over-asked', async () => {
      const clock = new ManualClock(T0);
      const {
        workers: [a, b],
        providerEntry,
      } = await workers(2, clock);
      const limits = { tokensPerMinute: 1_000 };
      const [first, second] = [a!.provider(limits), b!.provider(limits)];
      const permit = await first.acquire({ tokens: 800 }, never);
      let granted: ProviderPermit | undefined;
      void second.acquire({ tokens: 300 }, never).then((p) => (granted = p));
      // 100 tokens missing, at 1,000 a minute: 6 s.
      await waitFor(() => clock.nextDueAt === T0 + 6_000, 'a wait for 100 tokens');
      permit.settle(100);
      await settledEntry(providerEntry, (e) => e.levels[0] === 900);
      await clock.advanceBy(6_000);
      await waitFor(() => granted !== undefined, 'the second call, once it looked again');
      // An estimate above a minute's tokens waits for a full bucket instead of forever.
      const big = b!.provider(limits).acquire({ tokens: 5_000 }, never);
      await waitFor(() => clock.pending > 0, 'the big call waiting');
      await clock.advanceBy(60_000);
      await big;
    });

    it('pauses every worker on a 429 one of them saw, and a waiting call ends on abort', async () => {
      const clock = new ManualClock(T0);
      const {
        workers: [a, b],
        providerEntry,
      } = await workers(2, clock);
      const [first, second] = [a!.provider({}), b!.provider({})];
      first.pause(T0 + 30_000);
      expect(first.pausedUntil()).toBe(T0 + 30_000);
      await settledEntry(providerEntry, (e) => e.pausedUntil === T0 + 30_000);
      let granted = false;
      const waiting = second.acquire({ tokens: 10 }, never).then(() => (granted = true));
      await waitFor(
        () => clock.nextDueAt === T0 + 30_000,
        'the second worker waiting out the pause',
      );
      expect(second.pausedUntil()).toBe(T0 + 30_000);
      const controller = new AbortController();
      const aborted = second.acquire({ tokens: 10 }, controller.signal);
      await waitFor(() => clock.pending === 2, 'a second waiting call');
      controller.abort(new Error('run cancelled'));
      await expect(aborted).rejects.toThrow('run cancelled');
      await clock.advanceBy(30_000);
      await waiting;
      expect(granted).toBe(true);
      expect(second.pausedUntil()).toBeUndefined();
    });
  });
} else {
  describe('shared rate limits on NATS', () => {
    it.skip(`skipped: NATS not reachable at ${NATS_URL}`, () => {});
  });
}

/** Waits until the provider's stored entry (written in the background) satisfies `check`. */
async function settledEntry(
  read: () => Promise<BucketsEntry | undefined>,
  check: (entry: BucketsEntry) => boolean,
): Promise<void> {
  const until = Date.now() + 10_000;
  for (;;) {
    const entry = await read();
    if (entry !== undefined && check(entry)) return;
    if (Date.now() > until)
      throw new Error(`the stored entry never matched: ${JSON.stringify(entry)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

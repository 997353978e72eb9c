// Admission in the worker: under a flood the observed maximum of concurrent runs equals the limit
// (global, route) and never passes it, scarce global slots go to the higher priority first, and
// rate limits hold runs back (route-wide before the claim, per key by deferring) on a manual clock.
import { afterEach, describe, expect, it } from 'vitest';
import { on } from '../../src/core/route.js';
import { ManualClock } from '../fixtures/manual-clock.js';
import { closeHarnesses, governedWorker, statuses, waitFor } from './worker-harness.js';

afterEach(closeHarnesses);

/**
 * Handlers that hold until `size` of them run at once, then all go: a flood proceeds in waves, and
 * a wave can only start if the limit lets that many run together.
 */
function waves(size: number) {
  let running = 0;
  let peak = 0;
  let done = 0;
  let release: () => void = () => undefined;
  let wave = new Promise<void>((resolve) => (release = resolve));
  return {
    get peak() {
      return peak;
    },
    get done() {
      return done;
    },
    handler: async () => {
      running++;
      peak = Math.max(peak, running);
      if (running === size) {
        const current = release;
        wave = new Promise<void>((resolve) => (release = resolve));
        current();
      } else await wave;
      running--;
      done++;
    },
  };
}

describe('concurrency under a flood', () => {
  it("reaches the route's limit and never passes it", async () => {
    const w = waves(3);
    const h = await governedWorker([on('flood.x', { concurrency: 3, handler: w.handler })]);
    for (let i = 0; i < 60; i++) await h.publish('flood.x');
    await waitFor(() => w.done === 60, 'all 60 runs');
    expect(w.peak).toBe(3);
  });

  it('reaches the global limit across routes and never passes it', async () => {
    const w = waves(4);
    const h = await governedWorker(
      [
        on('flood.a', { concurrency: 10, handler: w.handler }),
        on('flood.b', { concurrency: 10, handler: w.handler }),
      ],
      { concurrency: 4 },
    );
    for (let i = 0; i < 40; i++) await h.publish(i % 2 === 0 ? 'flood.a' : 'flood.b');
    await waitFor(() => w.done === 40, 'all 40 runs');
    expect(w.peak).toBe(4);
  });
});

describe('priority', () => {
  it('serves the higher-priority route first when global slots are scarce', async () => {
    const order: string[] = [];
    const routes = [
      on('work.low', { name: 'low', priority: 0, handler: () => void order.push('low') }),
      on('work.high', { name: 'high', priority: 10, handler: () => void order.push('high') }),
    ];
    const h = await governedWorker(routes, { concurrency: 1 });
    // Both backlogs are queued before the worker gets to them.
    await h.worker.stop();
    for (let i = 0; i < 10; i++) {
      await h.publish('work.low');
      await h.publish('work.high');
    }
    await h.restart();
    await waitFor(() => order.length === 20, 'all 20 runs');
    // At most the one run that was claimed before the high route asked is a low one.
    const firstLow = order.indexOf('low');
    const lastHigh = order.lastIndexOf('high');
    expect(firstLow === 0 || firstLow > lastHigh).toBe(true);
    expect(order.slice(0, 11).filter((r) => r === 'high')).toHaveLength(10);
  });
});

describe('rate limits', () => {
  it('waits for route tokens before claiming: limit per period, the rest stays queued', async () => {
    const clock = new ManualClock('2025-03-14T10:00:00Z');
    let ran = 0;
    const h = await governedWorker(
      [on('rl.x', { rateLimit: { limit: 3, periodMs: 60_000 }, handler: () => void ran++ })],
      { clock },
    );
    for (let i = 0; i < 10; i++) await h.publish('rl.x');
    // The claim loop waits on the governor's clock for the next token (one per 20 s).
    const waiting = () => clock.pending > 0 && clock.nextDueAt === clock.now() + 20_000;
    // A run is counted as its handler starts, and completed once its ack is in: wait for both.
    const completed = () => statuses(h.runs('rl.x')).completed;
    await waitFor(
      () => ran === 3 && waiting() && completed() === 3,
      'the first 3 runs, then a wait for a token',
    );
    expect(statuses(h.runs('rl.x'))).toEqual({ completed: 3, queued: 7 });
    await clock.advanceBy(20_000);
    await waitFor(() => ran === 4 && waiting(), 'one more run 20 s later');
    await clock.advanceBy(60_000);
    await waitFor(() => ran === 7 && waiting() && completed() === 7, '3 more after a full period');
    expect(statuses(h.runs('rl.x'))).toEqual({ completed: 7, queued: 3 });
  });

  it('defers a key out of tokens, keeping its order, while other keys run', async () => {
    const clock = new ManualClock('2025-03-14T10:00:00Z');
    const seen: string[] = [];
    const h = await governedWorker(
      [
        on('pr.push', {
          rateLimit: { limit: 1, periodMs: 60_000, per: 'key' },
          handler: (e) => void seen.push(String(e.data)),
        }),
      ],
      { clock, busClock: clock },
    );
    for (const data of ['a1', 'a2', 'a3']) await h.publish('pr.push', { partitionkey: 'a', data });
    await h.publish('pr.push', { partitionkey: 'b', data: 'b1' });
    const reasons = () => h.runs('pr.push').map((r) => r.reason ?? '');
    await waitFor(
      () => seen.length === 2 && reasons().some((r) => r.includes('rate limit')),
      'a1 and b1 ran, a2 deferred',
    );
    expect(seen.sort()).toEqual(['a1', 'b1']);
    await clock.advanceBy(60_000);
    // a3 is deferred behind a2 before the clock moves on: advanced between a3's admission and its
    // deferral, the clock would put a3 a period later still, past where the test waits.
    const deferred = () => h.worker.stats()['pr.push']?.deferred ?? 0;
    await waitFor(() => seen.length === 3 && deferred() >= 2, 'a2 ran a period later, a3 deferred');
    await clock.advanceBy(60_000);
    await waitFor(() => seen.length === 4, 'a3 ran another period later');
    expect(seen.slice(2)).toEqual(['a2', 'a3']);
    expect(h.worker.stats()['pr.push']?.deferred).toBeGreaterThanOrEqual(2);
  });
});

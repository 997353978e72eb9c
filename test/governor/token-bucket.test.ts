// Token buckets and a route's rate limits, on a manual clock: the runs they allow over any span
// stay within limit + span × rate, refills are continuous, and per-key buckets stay bounded.
import { describe, expect, it } from 'vitest';
import { RouteRateLimit } from '../../src/governor/route-rate-limit.js';
import { KeyedTokenBuckets, TokenBucket } from '../../src/governor/token-bucket.js';
import { ManualClock } from '../fixtures/manual-clock.js';

describe('TokenBucket', () => {
  it('starts full, then refills at limit per period', async () => {
    const clock = new ManualClock('2025-01-01T00:00:00Z');
    const bucket = new TokenBucket(5, 1_000, clock);
    expect(bucket.available()).toBe(5);
    expect(bucket.take(5)).toBe(true);
    expect(bucket.take()).toBe(false);
    expect(bucket.msUntil()).toBe(200);
    await clock.advanceBy(199);
    expect(bucket.take()).toBe(false);
    await clock.advanceBy(1);
    expect(bucket.take()).toBe(true);
    await clock.advanceBy(10_000);
    expect(bucket.available()).toBe(5);
  });

  it('allows at most limit + elapsed × rate takes over any span of a long run', async () => {
    const clock = new ManualClock('2025-01-01T00:00:00Z');
    const bucket = new TokenBucket(3, 1_000, clock);
    const takes: number[] = [];
    // Someone asks every 7 ms for 20 s.
    for (let t = 0; t < 20_000; t += 7) {
      if (bucket.take()) takes.push(clock.now());
      await clock.advanceBy(7);
    }
    for (let i = 0; i < takes.length; i++)
      for (let j = i; j < takes.length; j++) {
        const span = takes[j]! - takes[i]!;
        expect(j - i + 1).toBeLessThanOrEqual(3 + Math.ceil((span * 3) / 1_000));
      }
    // And it is not stingy: over 20 s it gave about 3 + 20 × 3 tokens.
    expect(takes.length).toBeGreaterThanOrEqual(60);
    expect(takes.length).toBeLessThanOrEqual(63);
  });

  it('does not drain when the clock goes back', () => {
    const clock = new ManualClock('2025-01-01T00:00:10Z');
    const bucket = new TokenBucket(2, 1_000, clock);
    clock.jumpTo('2025-01-01T00:00:00Z');
    expect(bucket.available()).toBe(2);
  });

  it('refuses a limit or period that is not positive', () => {
    const clock = new ManualClock(0);
    expect(() => new TokenBucket(0, 1_000, clock)).toThrow(/positive limit/);
    expect(() => new TokenBucket(1, 0, clock)).toThrow(/positive limit/);
  });
});

describe('KeyedTokenBuckets', () => {
  it('keeps only buckets that are not full once it has grown', async () => {
    const clock = new ManualClock(0);
    const keyed = new KeyedTokenBuckets(1, 1_000, clock);
    for (let i = 0; i < 5_000; i++) {
      expect(keyed.bucketFor(`key-${i}`).take()).toBe(true);
      await clock.advanceBy(1);
    }
    // Keys refill after 1 s: at most the last ~2,000 (one sweep behind) can still be held.
    expect(keyed.size).toBeLessThan(2_100);
    for (let i = 0; i < 1_000_000; i += 1_000) keyed.bucketFor(`other-${i}`);
    keyed.sweep();
    expect(keyed.size).toBeLessThanOrEqual(1_000);
  });
});

describe('RouteRateLimit', () => {
  it('limits the route before the claim and each key after it', async () => {
    const clock = new ManualClock(0);
    const limit = new RouteRateLimit(
      [
        { limit: 10, periodMs: 1_000 },
        { limit: 2, periodMs: 1_000, per: 'key' },
      ],
      clock,
    );
    expect(limit.available()).toBe(10);
    limit.take(4);
    expect(limit.available()).toBe(6);
    expect(limit.takeKey('a')).toBe(0);
    expect(limit.takeKey('a')).toBe(0);
    expect(limit.takeKey('a')).toBe(500);
    expect(limit.takeKey('b')).toBe(0);
    // Events without a key are not limited per key.
    expect(limit.takeKey(undefined)).toBe(0);
    await clock.advanceBy(500);
    expect(limit.takeKey('a')).toBe(0);
    expect(() => limit.take(100)).toThrow(/more than were available/);
  });

  it('waits for the slowest per-key bucket, and a route without limits is unlimited', async () => {
    const clock = new ManualClock(0);
    const limit = new RouteRateLimit(
      [
        { limit: 5, periodMs: 1_000, per: 'key' },
        { limit: 1, periodMs: 60_000, per: 'key' },
      ],
      clock,
    );
    expect(limit.takeKey('a')).toBe(0);
    expect(limit.takeKey('a')).toBe(60_000);
    await clock.advanceBy(59_000);
    expect(limit.takeKey('a')).toBe(1_000);
    await clock.advanceBy(1_000);
    expect(limit.takeKey('a')).toBe(0);
    const none = new RouteRateLimit(undefined, clock);
    expect(none.available()).toBe(Number.POSITIVE_INFINITY);
    expect(none.takeKey('a')).toBe(0);
  });
});

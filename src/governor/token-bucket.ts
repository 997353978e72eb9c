// Token buckets for rate limits: `limit` tokens per `periodMs`, refilled continuously and starting
// full, so a quiet route may burst up to `limit` runs and then runs at `limit / periodMs`.
import type { Clock } from '../core/clock.js';

export class TokenBucket {
  private tokens: number;
  private refilledAt: number;
  private readonly perMs: number;

  constructor(
    readonly limit: number,
    readonly periodMs: number,
    private readonly clock: Clock,
  ) {
    if (!(limit > 0) || !(periodMs > 0))
      throw new RangeError(
        `a token bucket needs a positive limit and periodMs, got ${limit} per ${periodMs} ms`,
      );
    this.tokens = limit;
    this.refilledAt = clock.now();
    this.perMs = limit / periodMs;
  }

  /** Whole tokens that could be taken now. */
  available(): number {
    this.refill();
    return Math.floor(this.tokens);
  }

  /** Takes `n` tokens if there are that many; false (and nothing taken) if not. */
  take(n = 1): boolean {
    this.refill();
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }

  /** Puts back `n` tokens taken but not used; a bucket never holds more than `limit`. */
  giveBack(n: number): void {
    this.refill();
    this.tokens = Math.min(this.limit, this.tokens + n);
  }

  /** How long until `n` tokens are there (0: now). */
  msUntil(n = 1): number {
    this.refill();
    const missing = n - this.tokens;
    return missing <= 0 ? 0 : Math.ceil(missing / this.perMs);
  }

  /** True when the bucket is back to `limit`: indistinguishable from a fresh one. */
  isFull(): boolean {
    this.refill();
    return this.tokens >= this.limit;
  }

  private refill(): void {
    const now = this.clock.now();
    // A clock set back (NTP) must not drain the bucket.
    const elapsed = Math.max(0, now - this.refilledAt);
    this.refilledAt = now;
    this.tokens = Math.min(this.limit, this.tokens + elapsed * this.perMs);
  }
}

/**
 * One bucket per key, made on first use. Full buckets are dropped when the map has doubled since
 * the last sweep: a full bucket behaves exactly like a new one, so memory follows the keys that
 * ran within about one period, not every key ever seen.
 */
export class KeyedTokenBuckets {
  private readonly buckets = new Map<string, TokenBucket>();
  private sweepAt = 1_024;

  constructor(
    readonly limit: number,
    readonly periodMs: number,
    private readonly clock: Clock,
  ) {}

  /** `key`'s bucket, made full on first use. */
  bucketFor(key: string): TokenBucket {
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      // Swept before the new bucket goes in: it is full, and would be dropped with the rest.
      if (this.buckets.size >= this.sweepAt) this.sweep();
      bucket = new TokenBucket(this.limit, this.periodMs, this.clock);
      this.buckets.set(key, bucket);
    }
    return bucket;
  }

  /** Keys with a bucket in memory (not full, or not yet swept). */
  get size(): number {
    return this.buckets.size;
  }

  /** Drops every full bucket. */
  sweep(): void {
    for (const [key, bucket] of this.buckets) if (bucket.isFull()) this.buckets.delete(key);
    this.sweepAt = Math.max(1_024, this.buckets.size * 2);
  }
}

// A route's rate limits (`route.rateLimit`): route-wide buckets are taken before the claim (the
// claim loop takes tokens for what it may pull and gives back what the pull did not return),
// per-key buckets after it (a key out of tokens defers its delivery, which keeps its place in the
// key's order). RouteRateLimit keeps them in this process; NatsRouteRateLimit shares them.
import type { Clock } from '../core/clock.js';
import type { RateLimit } from '../core/route.js';
import { KeyedTokenBuckets, TokenBucket } from './token-bucket.js';

/** What a route's gate asks of its rate limits, wherever the buckets live. */
export interface RouteRateLimiter {
  /** Route-wide runs allowed now, as this process last saw the buckets; Infinity without any. */
  available(): number;
  /** How long until every route-wide bucket has a token, as last seen (0: worth a take). */
  msUntilAvailable(): number;
  /** Takes up to `want` tokens of every route-wide bucket; how many it took (0 to `want`). */
  takeUpTo(want: number): number | Promise<number>;
  /** Gives back `n` route-wide tokens taken by takeUpTo but not used. */
  giveBack(n: number): void | Promise<void>;
  /**
   * Admits one run of `key`: 0 when every per-key bucket had a token (taken), else how long until
   * they all have one (none taken, so a refused run costs nothing).
   */
  takeKey(key: string | undefined): number | Promise<number>;
  /** Keys holding a bucket in this process's memory. */
  readonly trackedKeys: number;
}

/** The limits of `route.rateLimit`, one or a list, as a list. */
export function rateLimitList(
  limits: RateLimit | readonly RateLimit[] | undefined,
): readonly RateLimit[] {
  const list: readonly RateLimit[] =
    limits === undefined ? [] : Array.isArray(limits) ? limits : [limits as RateLimit];
  return list;
}

export class RouteRateLimit implements RouteRateLimiter {
  private readonly routeWide: TokenBucket[] = [];
  private readonly perKey: KeyedTokenBuckets[] = [];

  constructor(limits: RateLimit | readonly RateLimit[] | undefined, clock: Clock) {
    for (const limit of rateLimitList(limits)) {
      if (limit.per === 'key')
        this.perKey.push(new KeyedTokenBuckets(limit.limit, limit.periodMs, clock));
      else this.routeWide.push(new TokenBucket(limit.limit, limit.periodMs, clock));
    }
  }

  get limited(): boolean {
    return this.routeWide.length > 0 || this.perKey.length > 0;
  }

  available(): number {
    let min = Number.POSITIVE_INFINITY;
    for (const bucket of this.routeWide) min = Math.min(min, bucket.available());
    return min;
  }

  msUntilAvailable(): number {
    let max = 0;
    for (const bucket of this.routeWide) max = Math.max(max, bucket.msUntil());
    return max;
  }

  /** Takes `n` tokens of every route-wide bucket; `n` is at most what available() said. */
  take(n: number): void {
    if (n <= 0) return;
    for (const bucket of this.routeWide)
      if (!bucket.take(n))
        throw new Error(`rate limit: took ${n} tokens, more than were available`);
  }

  // In process the answer is there at once: a number, no promise, no allocation.
  takeUpTo(want: number): number {
    const n = Math.max(0, Math.min(want, this.available()));
    this.take(n);
    return n;
  }

  giveBack(n: number): void {
    if (n > 0) for (const bucket of this.routeWide) bucket.giveBack(n);
  }

  takeKey(key: string | undefined): number {
    if (key === undefined || this.perKey.length === 0) return 0;
    const buckets = this.perKey.map((keyed) => keyed.bucketFor(key));
    let wait = 0;
    for (const bucket of buckets) wait = Math.max(wait, bucket.msUntil());
    if (wait > 0) return wait;
    for (const bucket of buckets) bucket.take();
    return 0;
  }

  get trackedKeys(): number {
    return this.perKey.reduce((sum, keyed) => sum + keyed.size, 0);
  }
}

// A route's rate limits (`route.rateLimit`): route-wide buckets are taken before the claim (the
// claim loop waits for a token instead of pulling), per-key buckets after it (a key out of tokens
// defers its delivery, which keeps its place in the key's order).
import type { Clock } from '../core/clock.js';
import type { RateLimit } from '../core/route.js';
import { KeyedTokenBuckets, TokenBucket } from './token-bucket.js';

export class RouteRateLimit {
  private readonly routeWide: TokenBucket[] = [];
  private readonly perKey: KeyedTokenBuckets[] = [];

  constructor(limits: RateLimit | readonly RateLimit[] | undefined, clock: Clock) {
    const list: readonly RateLimit[] =
      limits === undefined ? [] : Array.isArray(limits) ? limits : [limits as RateLimit];
    for (const limit of list) {
      if (limit.per === 'key')
        this.perKey.push(new KeyedTokenBuckets(limit.limit, limit.periodMs, clock));
      else this.routeWide.push(new TokenBucket(limit.limit, limit.periodMs, clock));
    }
  }

  get limited(): boolean {
    return this.routeWide.length > 0 || this.perKey.length > 0;
  }

  /** Runs the route-wide buckets allow now; Infinity without any. */
  available(): number {
    let min = Number.POSITIVE_INFINITY;
    for (const bucket of this.routeWide) min = Math.min(min, bucket.available());
    return min;
  }

  /** How long until every route-wide bucket has a token. */
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

  /**
   * Admits one run of `key`: 0 when every per-key bucket had a token (taken), else how long until
   * they all have one (none taken, so a refused run costs nothing).
   */
  takeKey(key: string | undefined): number {
    if (key === undefined || this.perKey.length === 0) return 0;
    const buckets = this.perKey.map((keyed) => keyed.bucketFor(key));
    let wait = 0;
    for (const bucket of buckets) wait = Math.max(wait, bucket.msUntil());
    if (wait > 0) return wait;
    for (const bucket of buckets) bucket.take();
    return 0;
  }

  /** Keys holding a bucket in memory, summed over the per-key limits. */
  get trackedKeys(): number {
    return this.perKey.reduce((sum, keyed) => sum + keyed.size, 0);
  }
}

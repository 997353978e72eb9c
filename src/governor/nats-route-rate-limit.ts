// A route's rate limits shared by every worker process on NATS: the route-wide buckets in one KV
// entry of the governor bucket, each key's per-key buckets in one entry of their own. Every take is
// a compare-and-set, so all workers together never admit more than the limit. Between takes, room()
// estimates from the levels this process read last; the take itself is exact.
import type { Clock } from '../core/clock.js';
import type { RateLimit } from '../core/route.js';
import { msUntil, refill, type BucketSpec, type KvTokenBuckets } from './kv-token-buckets.js';
import type { RouteRateLimiter } from './route-rate-limit.js';

export interface RateBucketKeys {
  /** The entry of the route-wide buckets. */
  route: string;
  /** The entry of one key's per-key buckets. */
  key(key: string): string;
}

export class NatsRouteRateLimit implements RouteRateLimiter {
  private readonly routeSpecs: BucketSpec[] = [];
  private readonly keySpecs: BucketSpec[] = [];
  /** The route-wide levels after this process's last take or give-back, and when. */
  private seen: { levels: readonly number[]; at: number } | undefined;
  private readonly now: () => number;

  constructor(
    limits: readonly RateLimit[],
    private readonly buckets: KvTokenBuckets,
    private readonly keys: RateBucketKeys,
    clock: Clock,
  ) {
    for (const limit of limits) {
      if (!(limit.limit > 0) || !(limit.periodMs > 0))
        throw new RangeError(
          `a rate limit needs a positive limit and periodMs, got ${limit.limit} per ${limit.periodMs} ms`,
        );
      const spec = { capacity: limit.limit, periodMs: limit.periodMs };
      (limit.per === 'key' ? this.keySpecs : this.routeSpecs).push(spec);
    }
    this.now = () => clock.now();
  }

  available(): number {
    let min = Number.POSITIVE_INFINITY;
    for (const level of this.levelsNow()) min = Math.min(min, Math.floor(level));
    return Math.max(0, min);
  }

  msUntilAvailable(): number {
    let max = 0;
    for (const [i, level] of this.levelsNow().entries())
      max = Math.max(max, msUntil(level, 1, this.routeSpecs[i] as BucketSpec));
    return max;
  }

  async takeUpTo(want: number): Promise<number> {
    if (this.routeSpecs.length === 0 || want <= 0) return Math.max(0, want);
    return this.buckets.change(this.keys.route, this.routeSpecs, this.now, (state) => {
      let n = want;
      for (const level of state.levels) n = Math.min(n, Math.floor(level));
      n = Math.max(0, n);
      this.seen = { levels: state.levels.map((level) => level - n), at: state.now };
      return n === 0 ? { result: 0 } : { take: this.routeSpecs.map(() => n), result: n };
    });
  }

  async giveBack(n: number): Promise<void> {
    if (this.routeSpecs.length === 0 || n <= 0) return;
    await this.buckets.change(this.keys.route, this.routeSpecs, this.now, (state) => {
      this.seen = { levels: state.levels.map((level) => level + n), at: state.now };
      return { take: this.routeSpecs.map(() => -n), result: undefined };
    });
  }

  async takeKey(key: string | undefined): Promise<number> {
    if (key === undefined || this.keySpecs.length === 0) return 0;
    return this.buckets.change(this.keys.key(key), this.keySpecs, this.now, (state) => {
      let wait = 0;
      for (const [i, level] of state.levels.entries())
        wait = Math.max(wait, msUntil(level, 1, this.keySpecs[i] as BucketSpec));
      return wait > 0 ? { result: wait } : { take: this.keySpecs.map(() => 1), result: 0 };
    });
  }

  /** None: per-key buckets live in the KV bucket, not in this process. */
  get trackedKeys(): number {
    return 0;
  }

  /** The route-wide levels as last seen, refilled to now; full ones before the first take. */
  private levelsNow(): number[] {
    const seen = this.seen;
    if (seen === undefined) return this.routeSpecs.map((spec) => spec.capacity);
    return refill(seen.levels, seen.at, this.routeSpecs, this.now());
  }
}

// Rate limits every NATS worker shares: routes' `rateLimit` and `governor.providers`, as token
// buckets in the governor's KV bucket (`<stream>_governor`) beside the budgets. Names are hashed as
// the store's other keys are; a route's limits go into its key's hash too, so a changed limit
// starts from a full bucket, as a restart does in process.
import type { KvBucket } from '../bus/nats/kv-bucket.js';
import type { Clock } from '../core/clock.js';
import type { RateLimit } from '../core/route.js';
import type { Logger } from '../observe/log.js';
import type { SharedRateLimits } from './governor-store.js';
import { keyToken as token } from './kv-change.js';
import { isIdleEntry, KvTokenBuckets, type BucketsEntry } from './kv-token-buckets.js';
import { NatsProviderLimiter } from './nats-provider-limiter.js';
import { NatsRouteRateLimit } from './nats-route-rate-limit.js';
import type { ProviderLimits } from './provider-limiter.js';

/** Key prefixes of the rate entries: route-wide buckets, per-key buckets, providers. */
const PREFIX = { route: 'rate.', key: 'rkey.', provider: 'prov.' } as const;

export class NatsRateLimits implements SharedRateLimits {
  private readonly buckets: KvTokenBuckets;

  constructor(bucket: KvBucket, bucketName: string) {
    this.buckets = new KvTokenBuckets(bucket, bucketName);
  }

  routeLimit(route: string, limits: readonly RateLimit[], clock: Clock): NatsRouteRateLimit {
    const id = token(`${route}\n${JSON.stringify(limits)}`);
    return new NatsRouteRateLimit(
      limits,
      this.buckets,
      { route: `${PREFIX.route}${id}`, key: (key) => `${PREFIX.key}${id}.${token(key)}` },
      clock,
    );
  }

  providerLimiter(
    name: string,
    limits: ProviderLimits,
    options: { clock: Clock; log: Logger },
  ): NatsProviderLimiter {
    return new NatsProviderLimiter(name, limits, {
      buckets: this.buckets,
      key: `${PREFIX.provider}${token(name)}`,
      ...options,
    });
  }
}

/**
 * Whether the sweep may delete `key`: a rate entry whose buckets are full again and whose pause is
 * over is the same as none. Such entries are not deleted when they fill up (a key seen again would
 * pay a create on a deleted key), so the bucket holds the keys that ran within about a sweep.
 */
export function isIdleRateEntry(key: string, entry: () => BucketsEntry, now: number): boolean {
  return (
    Object.values(PREFIX).some((prefix) => key.startsWith(prefix)) && isIdleEntry(entry(), now)
  );
}

// Admission per sink before a send is claimed: a token bucket (rate limit), a cap on sends in
// flight, and a pause when the service asked to wait (429 + retry-after holds the whole sink).
import type { RateLimitConfig } from '../core/outbox-config.js';

export interface SinkLimits {
  rate?: RateLimitConfig | undefined;
  concurrency: number;
}

interface Bucket {
  tokens: number;
  refilledAt: number;
  perMs: number;
  burst: number;
  inFlight: number;
  concurrency: number;
  pausedUntil: number;
}

export class SinkGate {
  private readonly buckets = new Map<string, Bucket>();

  constructor(limits: ReadonlyMap<string, SinkLimits>, now = Date.now()) {
    for (const [sink, limit] of limits) {
      const perSecond = limit.rate?.perSecond ?? Number.POSITIVE_INFINITY;
      const burst = limit.rate?.burst ?? Math.max(1, Math.ceil(perSecond));
      this.buckets.set(sink, {
        tokens: burst,
        refilledAt: now,
        perMs: perSecond / 1_000,
        burst,
        inFlight: 0,
        concurrency: limit.concurrency,
        pausedUntil: 0,
      });
    }
  }

  /** Takes a token and a slot when `sink` may send now; false leaves the action for later. */
  tryAcquire(sink: string, now = Date.now()): boolean {
    const bucket = this.buckets.get(sink);
    if (bucket === undefined) return true;
    this.refill(bucket, now);
    if (now < bucket.pausedUntil || bucket.inFlight >= bucket.concurrency || bucket.tokens < 1)
      return false;
    bucket.tokens -= 1;
    bucket.inFlight++;
    return true;
  }

  release(sink: string): void {
    const bucket = this.buckets.get(sink);
    if (bucket !== undefined) bucket.inFlight = Math.max(0, bucket.inFlight - 1);
  }

  /** The service asked to wait: nothing more goes to this sink before `until`. */
  pause(sink: string, until: number): void {
    const bucket = this.buckets.get(sink);
    if (bucket !== undefined) bucket.pausedUntil = Math.max(bucket.pausedUntil, until);
  }

  /** The earliest time a sink now closed by its rate or a pause opens again. */
  nextOpenAt(now = Date.now()): number | undefined {
    let next: number | undefined;
    for (const bucket of this.buckets.values()) {
      this.refill(bucket, now);
      let at: number | undefined;
      if (now < bucket.pausedUntil) at = bucket.pausedUntil;
      else if (bucket.tokens < 1 && bucket.perMs > 0)
        at = now + Math.ceil((1 - bucket.tokens) / bucket.perMs);
      if (at !== undefined && (next === undefined || at < next)) next = at;
    }
    return next;
  }

  private refill(bucket: Bucket, now: number): void {
    if (!Number.isFinite(bucket.perMs)) {
      bucket.tokens = bucket.burst;
      return;
    }
    const elapsed = Math.max(0, now - bucket.refilledAt);
    bucket.tokens = Math.min(bucket.burst, bucket.tokens + elapsed * bucket.perMs);
    bucket.refilledAt = now;
  }
}

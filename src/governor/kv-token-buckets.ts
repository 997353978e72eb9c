// Token buckets shared by every worker through the governor's KV bucket. One entry holds the
// buckets that must be taken together (a route's route-wide limits, a key's per-key limits, a
// provider's requests and tokens), so taking from all of them is one compare-and-set: either every
// bucket gives, or none does. Levels refill continuously from `at`, as TokenBucket does in memory.
import type { KvBucket } from '../bus/nats/kv-bucket.js';
import { changeEntry } from './kv-change.js';

export interface BucketSpec {
  capacity: number;
  periodMs: number;
}

/** What the KV entry holds. */
export interface BucketsEntry {
  /** Each bucket's tokens at `at`; below zero when a call used more than it took. */
  levels: number[];
  /** When the levels were written (the writer's clock, ms since the epoch). */
  at: number;
  /** When every bucket is full again if nobody takes more: from then on the entry is idle. */
  fullAt: number;
  /** A provider's 429 pause (ms since the epoch). */
  pausedUntil?: number;
}

/** The buckets refilled to `now`, as a caller decides on them. */
export interface BucketsState {
  levels: readonly number[];
  pausedUntil: number;
  now: number;
}

/** What to do: subtract `take` from the levels (negative gives back), extend the pause. */
export interface BucketsStep<R> {
  take?: readonly number[];
  pauseUntil?: number;
  result: R;
}

export class KvTokenBuckets {
  constructor(
    private readonly bucket: KvBucket,
    private readonly bucketName: string,
  ) {}

  /**
   * Reads the entry (a missing one is full buckets), lets `decide` look at it refilled to now, and
   * writes what it takes by compare-and-set, deciding again on a conflict. A step taking nothing
   * writes nothing.
   */
  change<R>(
    key: string,
    specs: readonly BucketSpec[],
    now: () => number,
    decide: (state: BucketsState) => BucketsStep<R>,
  ): Promise<R> {
    return changeEntry<BucketsEntry, R>(this.bucket, this.bucketName, key, (was) => {
      const state = refilled(was, specs, now());
      const step = decide(state);
      if (step.take === undefined && (step.pauseUntil ?? 0) <= state.pausedUntil)
        return { result: step.result };
      const levels = state.levels.map((level, i) =>
        Math.min(specOf(specs, i).capacity, level - (step.take?.[i] ?? 0)),
      );
      const pausedUntil = Math.max(state.pausedUntil, step.pauseUntil ?? 0);
      const value: BucketsEntry = {
        levels,
        at: state.now,
        fullAt: state.now + msUntilFull(levels, specs),
        ...(pausedUntil > state.now ? { pausedUntil } : {}),
      };
      return { value, result: step.result };
    });
  }
}

/** ms until bucket `i` holds `n` tokens, from `level` (0: now). */
export function msUntil(level: number, n: number, spec: BucketSpec): number {
  return level >= n ? 0 : Math.ceil(((n - level) * spec.periodMs) / spec.capacity);
}

/** `levels` as written at `at`, refilled to `now` (a clock set back refills nothing). */
export function refill(
  levels: readonly number[],
  at: number,
  specs: readonly BucketSpec[],
  now: number,
): number[] {
  const elapsed = Math.max(0, now - at);
  return specs.map((spec, i) =>
    Math.min(
      spec.capacity,
      (levels[i] ?? spec.capacity) + (elapsed * spec.capacity) / spec.periodMs,
    ),
  );
}

/** An entry whose buckets are full again and whose pause is over: the same as no entry. */
export function isIdleEntry(entry: BucketsEntry, now: number): boolean {
  return entry.fullAt <= now && (entry.pausedUntil ?? 0) <= now;
}

function refilled(
  entry: BucketsEntry | undefined,
  specs: readonly BucketSpec[],
  now: number,
): BucketsState {
  if (entry === undefined)
    return { levels: specs.map((spec) => spec.capacity), pausedUntil: 0, now };
  return {
    levels: refill(entry.levels, entry.at, specs, now),
    pausedUntil: entry.pausedUntil ?? 0,
    now,
  };
}

function msUntilFull(levels: readonly number[], specs: readonly BucketSpec[]): number {
  let max = 0;
  for (const [i, level] of levels.entries())
    max = Math.max(max, msUntil(level, specOf(specs, i).capacity, specOf(specs, i)));
  return max;
}

function specOf(specs: readonly BucketSpec[], i: number): BucketSpec {
  const spec = specs[i];
  if (spec === undefined) throw new RangeError(`no bucket ${i} among ${specs.length}`);
  return spec;
}

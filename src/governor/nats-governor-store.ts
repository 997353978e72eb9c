// The governor's state on NATS: a JetStream KV bucket of its own (`<stream>_governor`), shared by
// every worker on every machine. Every change is a compare-and-set on the entry's revision, so
// concurrent workers never lose an increment and a threshold mark goes from absent to present once.
import { Kvm, type KV } from '@nats-io/kv';
import { KvBucket } from '../bus/nats/kv-bucket.js';
import type { NatsStore } from '../bus/nats/nats-store.js';
import {
  NO_USAGE,
  roundUsd,
  type BudgetLift,
  type GovernorControls,
  type GovernorStore,
  type PauseRecord,
  type SweepCutoffs,
  type ThresholdMark,
  type UsageAmount,
  type WindowRef,
} from './governor-store.js';
import { changeEntry, keyToken as token, type Change } from './kv-change.js';
import { readBucket } from './nats-governor-read.js';
import type { BucketsEntry } from './kv-token-buckets.js';
import { isIdleRateEntry, NatsRateLimits } from './nats-rate-limits.js';

/**
 * One budget window of one scope: its usage and the thresholds announced in it. Marks live in the
 * same entry as the usage, so a ledger reads both in one get.
 */
interface WindowEntry {
  scope: string;
  window: WindowRef['window'];
  start: number;
  tokens: number;
  costUsd: number;
  /** `<unit> <fraction>` of each threshold announced. */
  marks: string[];
  updatedAt: number;
}

/** What operators set by hand: one entry, read by every worker's refresh in one get. */
interface ControlsEntry {
  pauses: PauseRecord[];
  lifts: BudgetLift[];
}

interface ChainEntry {
  runs: number;
  at: number;
}

/** Keys of the bucket; scopes and correlation ids are hashed, as KV keys allow few characters. */
const keys = {
  window: (ref: WindowRef) => `win.${token(ref.scope)}.${ref.window}.${ref.start}`,
  controls: 'ctl',
  chain: (correlationId: string) => `chain.${token(correlationId)}`,
};

/** Delete markers older than this are removed by the sweep (a reader may still be looking). */
const MARKER_AGE_MS = 30 * 60 * 1000;

export class NatsGovernorStore implements GovernorStore {
  private readonly bucket: KvBucket;
  /** Routes' and providers' rate limits, in this same bucket. */
  readonly rateLimits: NatsRateLimits;

  private constructor(
    private readonly store: NatsStore,
    private readonly kv: KV,
    private readonly bucketName: string,
  ) {
    this.bucket = new KvBucket(kv);
    this.rateLimits = new NatsRateLimits(this.bucket, bucketName);
  }

  /**
   * Creates the bucket when missing (or binds to it). No TTL, unlike the bus's state bucket: a
   * month's usage and an operator's pause must outlive the events' retention; sweep() ages them.
   */
  static async open(
    store: NatsStore,
    options: { replicas?: number | undefined } = {},
  ): Promise<NatsGovernorStore> {
    const name = `${store.names.stream}_governor`;
    const kv = await new Kvm(store.js).create(name, {
      history: 1,
      replicas: options.replicas ?? 1,
      // Reads go to the stream leader: a worker reads what another one just wrote.
      allow_direct: false,
      description: 'agentd governor: budget usage and thresholds, pauses, lifts, chain counts',
    });
    return new NatsGovernorStore(store, kv, name);
  }

  async addUsage(ref: WindowRef, usage: UsageAmount, now: number): Promise<UsageAmount> {
    return this.change<WindowEntry, UsageAmount>(keys.window(ref), (was) => {
      const entry = was ?? emptyWindow(ref);
      const value: WindowEntry = {
        ...entry,
        tokens: entry.tokens + Math.round(usage.tokens),
        costUsd: roundUsd(entry.costUsd + usage.costUsd),
        updatedAt: now,
      };
      return { value, result: { tokens: value.tokens, costUsd: value.costUsd } };
    });
  }

  async usage(ref: WindowRef): Promise<UsageAmount> {
    const found = await this.bucket.get<WindowEntry>(keys.window(ref));
    if (found === undefined) return NO_USAGE;
    return { tokens: found.value.tokens, costUsd: roundUsd(found.value.costUsd) };
  }

  async markThreshold(mark: ThresholdMark, now: number): Promise<boolean> {
    const label = markLabel(mark);
    return this.change<WindowEntry, boolean>(keys.window(mark), (was) => {
      const entry = was ?? emptyWindow(mark);
      // The compare-and-set that adds the mark succeeds for one caller only: announced once.
      if (entry.marks.includes(label)) return { result: false };
      return { value: { ...entry, marks: [...entry.marks, label], updatedAt: now }, result: true };
    });
  }

  async thresholdMarks(ref: WindowRef): Promise<ThresholdMark[]> {
    const found = await this.bucket.get<WindowEntry>(keys.window(ref));
    return (found?.value.marks ?? []).flatMap((label) => {
      const [unit, fraction] = label.split(' ');
      return unit === 'tokens' || unit === 'usd'
        ? [{ ...ref, unit, fraction: Number(fraction) }]
        : [];
    });
  }

  async controls(): Promise<GovernorControls> {
    const found = await this.bucket.get<ControlsEntry>(keys.controls);
    return {
      pauses: [...(found?.value.pauses ?? [])].sort((a, b) => a.route.localeCompare(b.route)),
      lifts: [...(found?.value.lifts ?? [])].sort((a, b) => a.scope.localeCompare(b.scope)),
    };
  }

  async pause(record: PauseRecord): Promise<void> {
    const { route, reason, by, at } = record;
    await this.changeControls((c) => ({
      value: {
        ...c,
        pauses: [...c.pauses.filter((p) => p.route !== route), { route, reason, by, at }],
      },
      result: undefined,
    }));
  }

  async unpause(route: string): Promise<boolean> {
    return this.changeControls((c) =>
      c.pauses.some((p) => p.route === route)
        ? { value: { ...c, pauses: c.pauses.filter((p) => p.route !== route) }, result: true }
        : { result: false },
    );
  }

  async liftBudget(lift: BudgetLift): Promise<void> {
    const { scope, until, by } = lift;
    await this.changeControls((c) => ({
      value: { ...c, lifts: [...c.lifts.filter((l) => l.scope !== scope), { scope, until, by }] },
      result: undefined,
    }));
  }

  async countChainRun(correlationId: string, now: number): Promise<number> {
    return this.change<ChainEntry, number>(keys.chain(correlationId), (was) => {
      const runs = (was?.runs ?? 0) + 1;
      return { value: { runs, at: now }, result: runs };
    });
  }

  /**
   * Drops windows begun before the cutoff (their usage and marks count one record each), chains
   * last counted before theirs, rate buckets full again, and lifts that ended; then the delete
   * markers left long enough.
   */
  async sweep({ windowsBefore, chainsBefore, now }: SweepCutoffs): Promise<number> {
    let gone = 0;
    const markers: { key: string; revision: number }[] = [];
    for (const entry of await readBucket(this.store, this.kv, this.bucketName, '>')) {
      if (entry.operation !== 'PUT') {
        if (now - entry.created.getTime() >= MARKER_AGE_MS) markers.push(entry);
        continue;
      }
      if (entry.key.startsWith('win.')) {
        const window = entry.json<WindowEntry>();
        // Deleted at the revision read: a window written meanwhile is still in use.
        if (window.start < windowsBefore && (await this.bucket.deleteAt(entry.key, entry.revision)))
          gone += 1 + window.marks.length;
      } else if (isIdleRateEntry(entry.key, () => entry.json<BucketsEntry>(), now)) {
        if (await this.bucket.deleteAt(entry.key, entry.revision)) gone += 1;
      } else if (entry.key.startsWith('chain.')) {
        if (
          entry.json<ChainEntry>().at < chainsBefore &&
          (await this.bucket.deleteAt(entry.key, entry.revision))
        )
          gone += 1;
      }
    }
    gone += await this.changeControls((c) => {
      const live = c.lifts.filter((l) => l.until > now);
      if (live.length === c.lifts.length) return { result: 0 };
      return { value: { ...c, lifts: live }, result: c.lifts.length - live.length };
    });
    for (const marker of markers)
      // Up to and including the marker: a value written after it (a later revision) stays.
      await this.store.jsm.streams.purge(`KV_${this.bucketName}`, {
        filter: `$KV.${this.bucketName}.${marker.key}`,
        seq: marker.revision + 1,
      });
    return gone;
  }

  private changeControls<R>(next: (controls: ControlsEntry) => Change<ControlsEntry, R>) {
    return this.change<ControlsEntry, R>(keys.controls, (was) =>
      next(was ?? { pauses: [], lifts: [] }),
    );
  }

  private change<T, R>(key: string, next: (was: T | undefined) => Change<T, R>): Promise<R> {
    return changeEntry(this.bucket, this.bucketName, key, next);
  }
}

function emptyWindow(ref: WindowRef): WindowEntry {
  return {
    scope: ref.scope,
    window: ref.window,
    start: ref.start,
    tokens: 0,
    costUsd: 0,
    marks: [],
    updatedAt: 0,
  };
}

function markLabel(mark: ThresholdMark): string {
  return `${mark.unit} ${mark.fraction}`;
}

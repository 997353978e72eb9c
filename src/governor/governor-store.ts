// Where the governor keeps what must survive a restart and be shared by every worker: usage per
// budget window, the thresholds already announced, operator pauses, budget pauses lifted by hand,
// and the run count of each correlation chain. SqliteGovernorStore keeps it in the bus's database,
// NatsGovernorStore in a JetStream KV bucket every NATS worker shares.
import type { Clock } from '../core/clock.js';
import type { RateLimit } from '../core/route.js';
import type { Logger } from '../observe/log.js';
import type { BudgetWindow } from './budget-window.js';
import type { ProviderLimiter, ProviderLimits } from './provider-limiter.js';
import type { RouteRateLimiter } from './route-rate-limit.js';

export interface UsageAmount {
  tokens: number;
  costUsd: number;
}

export const NO_USAGE: UsageAmount = Object.freeze({ tokens: 0, costUsd: 0 });

/** Sums of float dollars drift (0.1 + 0.2); micro-dollars are as precise as prices go. */
export function roundUsd(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}

/** Which window of which scope: a route's name, or 'global' for governor.budget. */
export interface WindowRef {
  scope: string;
  window: BudgetWindow;
  /** ms since the epoch (UTC), see budget-window.ts. */
  start: number;
}

export type BudgetUnit = 'tokens' | 'usd';

export interface ThresholdMark extends WindowRef {
  unit: BudgetUnit;
  fraction: number;
}

/** `agentd pause <route>`: the route takes no deliveries until `agentd resume`. */
export interface PauseRecord {
  route: string;
  reason: string;
  /** Who paused it (user@host). */
  by: string;
  /** When (ms since the epoch). */
  at: number;
}

/** `agentd resume` on a budget-paused scope: its budget pause is lifted until `until`. */
export interface BudgetLift {
  scope: string;
  until: number;
  by: string;
}

/** What operators set by hand, read together by the daemon's refresh. */
export interface GovernorControls {
  pauses: PauseRecord[];
  lifts: BudgetLift[];
}

export interface GovernorStore {
  /** Adds a run's usage to a window; returns the window's totals, every worker's included. */
  addUsage(ref: WindowRef, usage: UsageAmount, now: number): Promise<UsageAmount>;
  /** A window's totals (zero when nothing was used in it). */
  usage(ref: WindowRef): Promise<UsageAmount>;
  /** Records an announced threshold; false when it was recorded already (announce once). */
  markThreshold(mark: ThresholdMark, now: number): Promise<boolean>;
  /** The thresholds recorded for a window. */
  thresholdMarks(ref: WindowRef): Promise<ThresholdMark[]>;
  controls(): Promise<GovernorControls>;
  /** Pauses a route (again: the reason is replaced). */
  pause(record: PauseRecord): Promise<void>;
  /** Lifts a route's operator pause; false when it had none. */
  unpause(route: string): Promise<boolean>;
  /** Lifts a scope's budget pause until `lift.until` (the end of its current window). */
  liftBudget(lift: BudgetLift): Promise<void>;
  /** Counts one more run in a correlation chain; returns the chain's count, this run included. */
  countChainRun(correlationId: string, now: number): Promise<number>;
  /** Forgets what no longer matters; returns how many records went. */
  sweep(cutoffs: SweepCutoffs): Promise<number>;
  /**
   * Rate-limit buckets every worker shares (routes' `rateLimit`, `governor.providers`); absent when
   * a single process holds them in memory (the SQLite bus's daemon).
   */
  readonly rateLimits?: SharedRateLimits;
}

/** Makes rate limiters whose buckets live in the store, shared by every worker process. */
export interface SharedRateLimits {
  routeLimit(route: string, limits: readonly RateLimit[], clock: Clock): RouteRateLimiter;
  providerLimiter(
    name: string,
    limits: ProviderLimits,
    options: { clock: Clock; log: Logger },
  ): ProviderLimiter;
}

export interface SweepCutoffs {
  /** Usage and marks of windows that began before this. */
  windowsBefore: number;
  /** Chains last counted before this. */
  chainsBefore: number;
  /** Lifts that ended by now. */
  now: number;
}

export const markKey = (mark: ThresholdMark): string =>
  `${mark.scope}\n${mark.window}\n${mark.start}\n${mark.unit}\n${mark.fraction}`;

const refKey = (ref: WindowRef): string => `${ref.scope}\n${ref.window}\n${ref.start}`;

/**
 * The governor's state in this process's memory: nothing survives a restart and nothing is shared
 * with other processes. For tests, benchmarks and workers made without a store.
 */
export class MemoryGovernorStore implements GovernorStore {
  private readonly totals = new Map<string, UsageAmount & { start: number }>();
  private readonly marks = new Map<string, ThresholdMark>();
  private readonly pauses = new Map<string, PauseRecord>();
  private readonly lifts = new Map<string, BudgetLift>();
  private readonly chains = new Map<string, { runs: number; at: number }>();

  async addUsage(ref: WindowRef, usage: UsageAmount, _now: number): Promise<UsageAmount> {
    const was = this.totals.get(refKey(ref)) ?? { ...NO_USAGE, start: ref.start };
    const next = {
      tokens: was.tokens + usage.tokens,
      costUsd: roundUsd(was.costUsd + usage.costUsd),
      start: ref.start,
    };
    this.totals.set(refKey(ref), next);
    return { tokens: next.tokens, costUsd: next.costUsd };
  }

  async usage(ref: WindowRef): Promise<UsageAmount> {
    const found = this.totals.get(refKey(ref));
    return found === undefined ? NO_USAGE : { tokens: found.tokens, costUsd: found.costUsd };
  }

  async markThreshold(mark: ThresholdMark, _now: number): Promise<boolean> {
    const key = markKey(mark);
    if (this.marks.has(key)) return false;
    this.marks.set(key, mark);
    return true;
  }

  async thresholdMarks(ref: WindowRef): Promise<ThresholdMark[]> {
    return [...this.marks.values()].filter((m) => refKey(m) === refKey(ref));
  }

  async controls(): Promise<GovernorControls> {
    return { pauses: [...this.pauses.values()], lifts: [...this.lifts.values()] };
  }

  async pause(record: PauseRecord): Promise<void> {
    this.pauses.set(record.route, record);
  }

  async unpause(route: string): Promise<boolean> {
    return this.pauses.delete(route);
  }

  async liftBudget(lift: BudgetLift): Promise<void> {
    this.lifts.set(lift.scope, lift);
  }

  async countChainRun(correlationId: string, now: number): Promise<number> {
    const runs = (this.chains.get(correlationId)?.runs ?? 0) + 1;
    this.chains.set(correlationId, { runs, at: now });
    return runs;
  }

  async sweep({ windowsBefore, chainsBefore, now }: SweepCutoffs): Promise<number> {
    let gone = 0;
    const drop = <V>(map: Map<string, V>, stale: (value: V) => boolean) => {
      for (const [key, value] of map)
        if (stale(value)) {
          map.delete(key);
          gone++;
        }
    };
    drop(this.totals, (t) => t.start < windowsBefore);
    drop(this.marks, (m) => m.start < windowsBefore);
    drop(this.chains, (c) => c.at < chainsBefore);
    drop(this.lifts, (l) => l.until <= now);
    return gone;
  }
}

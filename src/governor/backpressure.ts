// Backpressure at the ingress: each route holds at most `maxBacklog` unfinished deliveries. Before
// the ingress (POST /events, webhooks, cron, fs, process sources) stores events, the gate looks at
// the backlog of every route they would fan out to; one at its limit refuses the whole publish
// with BacklogFullError, so nothing is stored and the sender comes back later. Events of types
// nobody subscribes to, and events handlers emit (they are published by the worker, not here), are
// never refused.
import { systemClock, type Clock } from '../core/clock.js';
import type { ResolvedConfig } from '../core/config.js';
import type { AgentdEvent } from '../core/envelope.js';
import type { Logger } from '../observe/log.js';
import { BacklogFullError, type FullRoute } from './backpressure-error.js';

export { BacklogFullError, isBacklogFull, type FullRoute } from './backpressure-error.js';

/** Unfinished deliveries a route may hold unless its config or `governor.maxBacklog` says. */
export const DEFAULT_MAX_BACKLOG = 10_000;
/** How stale the gate's view of the backlogs may get: one read of them per this, not per request. */
export const BACKLOG_REFRESH_MS = 250;
/** Retry-After before any drain was measured (the first refusals after a start). */
export const UNKNOWN_RATE_RETRY_S = 5;
const MIN_RETRY_S = 1;
const MAX_RETRY_S = 60;
/** A sender is told to come back when the backlog should be down to this share of its limit. */
const RETRY_TARGET = 0.9;
/** Weight of the newest drain sample in the moving average. */
const RATE_SMOOTHING = 0.3;

/** What the gate reads from the bus (Bus.backlogs and Bus.subscribersOf). */
export interface BacklogView {
  backlogs(): Promise<ReadonlyMap<string, number>>;
  subscribersOf(type: string): readonly string[];
}

export interface BacklogGateOptions {
  bus: BacklogView;
  /** maxBacklog per route; routes not named get `defaultLimit`. */
  limits?: ReadonlyMap<string, number>;
  /** Default DEFAULT_MAX_BACKLOG. */
  defaultLimit?: number;
  clock?: Clock;
  /** Default BACKLOG_REFRESH_MS. */
  refreshMs?: number;
  log?: Logger;
}

interface RouteView {
  /** The bus's count at the last refresh. */
  backlog: number;
  /** Deliveries admitted here since that refresh began (not yet in `backlog`). */
  admitted: number;
  /** Deliveries finished per second, smoothed; undefined until two refreshes measured it. */
  drainPerSecond: number | undefined;
}

/**
 * The ingress side of backpressure. Its view of the backlogs is refreshed at most every
 * `refreshMs` (no count per request), and what it admits in between is added to it, so a flood
 * overshoots a limit only by what arrives while one refresh is under way: the limit is soft.
 */
export class BacklogGate {
  private readonly views = new Map<string, RouteView>();
  private readonly clock: Clock;
  private readonly refreshMs: number;
  private readonly defaultLimit: number;
  private refreshedAt: number | undefined;
  private refreshing: Promise<void> | undefined;
  private readFailed = false;

  constructor(private readonly options: BacklogGateOptions) {
    this.clock = options.clock ?? systemClock;
    this.refreshMs = options.refreshMs ?? BACKLOG_REFRESH_MS;
    this.defaultLimit = options.defaultLimit ?? DEFAULT_MAX_BACKLOG;
  }

  limitOf(route: string): number {
    return this.options.limits?.get(route) ?? this.defaultLimit;
  }

  /**
   * Resolves when every route the events fan out to has room, counting them as admitted; throws
   * BacklogFullError (storing nothing) when one is at its limit.
   */
  async admit(events: readonly AgentdEvent[]): Promise<void> {
    const fanout = new Map<string, number>();
    for (const event of events)
      for (const route of this.options.bus.subscribersOf(event.type))
        fanout.set(route, (fanout.get(route) ?? 0) + 1);
    if (fanout.size === 0) return;
    await this.refreshIfStale();
    const full: FullRoute[] = [];
    for (const route of fanout.keys()) {
      const view = this.viewOf(route);
      const backlog = view.backlog + view.admitted;
      const limit = this.limitOf(route);
      if (backlog >= limit) full.push({ route, backlog, limit });
    }
    if (full.length > 0) throw new BacklogFullError(full, this.retryAfterSeconds(full));
    for (const [route, count] of fanout) this.viewOf(route).admitted += count;
  }

  /** `publish` behind the gate: refused publishes never reach it. */
  guard<T>(
    publish: (events: readonly AgentdEvent[]) => Promise<T>,
  ): (events: readonly AgentdEvent[]) => Promise<T> {
    return async (events) => {
      await this.admit(events);
      return publish(events);
    };
  }

  /** Seconds until the fullest route should be back under RETRY_TARGET of its limit. */
  private retryAfterSeconds(full: readonly FullRoute[]): number {
    return Math.max(
      ...full.map((f) =>
        retryAfterSeconds(f.backlog, f.limit, this.views.get(f.route)?.drainPerSecond),
      ),
    );
  }

  private viewOf(route: string): RouteView {
    let view = this.views.get(route);
    if (view === undefined) {
      view = { backlog: 0, admitted: 0, drainPerSecond: undefined };
      this.views.set(route, view);
    }
    return view;
  }

  private async refreshIfStale(): Promise<void> {
    const at = this.refreshedAt;
    if (at !== undefined && this.clock.now() - at < this.refreshMs) return;
    // One read at a time: requests arriving meanwhile wait for it rather than start their own.
    this.refreshing ??= this.refresh().finally(() => {
      this.refreshing = undefined;
    });
    await this.refreshing;
  }

  private async refresh(): Promise<void> {
    const startedAt = this.clock.now();
    // Admissions from here on may or may not be in the counts read: kept aside, and dropped only
    // once the read has returned (a publish admitted during the read is counted by the next one).
    const admittedBefore = new Map<string, number>();
    for (const [route, view] of this.views) {
      admittedBefore.set(route, view.admitted);
      view.admitted = 0;
    }
    let counts: ReadonlyMap<string, number>;
    try {
      counts = await this.options.bus.backlogs();
    } catch (error) {
      // Fail open on a stale view: the publish itself reports a store that is away.
      for (const [route, admitted] of admittedBefore) this.viewOf(route).admitted += admitted;
      if (!this.readFailed)
        this.options.log?.warn({ err: error }, 'backpressure: could not read the backlogs');
      this.readFailed = true;
      this.refreshedAt = startedAt;
      return;
    }
    this.readFailed = false;
    const elapsedMs = this.refreshedAt === undefined ? undefined : startedAt - this.refreshedAt;
    for (const [route, backlog] of counts) {
      const view = this.viewOf(route);
      if (elapsedMs !== undefined && elapsedMs > 0)
        view.drainPerSecond = nextDrainRate(
          view,
          admittedBefore.get(route) ?? 0,
          backlog,
          elapsedMs,
        );
      view.backlog = backlog;
    }
    this.refreshedAt = startedAt;
  }
}

/**
 * The drain rate after a refresh that found `backlog` where the last one found `view.backlog` and
 * `admitted` were added meanwhile. Only an interval the route worked through with deliveries left
 * over measures what it can do; one that emptied it is a lower bound, one with nothing queued says
 * nothing. Arrivals not admitted here (events handlers emit) are unseen, so the drain is
 * underestimated while they flow: Retry-After errs towards later, never earlier.
 */
function nextDrainRate(
  view: RouteView,
  admitted: number,
  backlog: number,
  elapsedMs: number,
): number | undefined {
  const before = view.backlog + admitted;
  const sample = (Math.max(0, before - backlog) * 1_000) / elapsedMs;
  if (view.backlog > 0 && backlog > 0)
    return view.drainPerSecond === undefined
      ? sample
      : view.drainPerSecond * (1 - RATE_SMOOTHING) + sample * RATE_SMOOTHING;
  if (sample > 0) return Math.max(view.drainPerSecond ?? 0, sample);
  return view.drainPerSecond;
}

/**
 * Retry-After for a route holding `backlog` of `limit`: the time its drain rate needs to bring it
 * under RETRY_TARGET of the limit, in whole seconds within 1..60. Without a measured rate it is
 * UNKNOWN_RATE_RETRY_S; a route that drains nothing gets the longest wait.
 */
export function retryAfterSeconds(
  backlog: number,
  limit: number,
  drainPerSecond: number | undefined,
): number {
  if (drainPerSecond === undefined) return UNKNOWN_RATE_RETRY_S;
  if (drainPerSecond <= 0) return MAX_RETRY_S;
  const excess = Math.max(1, backlog - Math.floor(limit * RETRY_TARGET));
  return Math.min(MAX_RETRY_S, Math.max(MIN_RETRY_S, Math.ceil(excess / drainPerSecond)));
}

/** The gate for a daemon's config: route.maxBacklog, else governor.maxBacklog, else 10,000. */
export function backlogGateFor(
  config: Pick<ResolvedConfig, 'routes' | 'governor'>,
  bus: BacklogView,
  log?: Logger,
): BacklogGate {
  const limits = new Map<string, number>();
  for (const route of config.routes)
    if (route.maxBacklog !== undefined) limits.set(route.name, route.maxBacklog);
  return new BacklogGate({
    bus,
    limits,
    defaultLimit: config.governor?.maxBacklog ?? DEFAULT_MAX_BACKLOG,
    ...(log === undefined ? {} : { log }),
  });
}

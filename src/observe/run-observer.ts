// What the worker reports about each attempt, and where it goes: metrics (bound per route, no
// allocation), spans (only when tracing is on), the live feed (only while someone listens) and,
// on NATS, the run history the admin API reads (src/history).
import type { Delivery } from '../bus/bus.js';
import type { LiveFeed, LiveRunStatus } from './live-feed.js';
import type { AgentdMetrics, RouteMetrics } from './metrics.js';
import { RouteSpanNames, RunSpans } from './run-spans.js';
import type { Tracing } from './tracing.js';

/** How an attempt was settled. */
export type AttemptOutcome =
  | 'completed'
  | 'skipped'
  | 'retry'
  | 'dead'
  | 'released'
  | 'parked'
  | 'lease-lost'
  | 'unsettled'
  // Admission said "not now" (a per-key rate limit): back in the queue, no attempt counted.
  | 'deferred'
  // A newer event for its key replaced it: nothing it recorded was kept.
  | 'cancelled';

export interface RouteObserver {
  /** A claimed delivery is about to run; its spans when tracing is on. */
  started(delivery: Delivery): RunSpans | undefined;
  /** The handler returned (`ok`) or threw; `result` is its return value or error. */
  handled(
    spans: RunSpans | undefined,
    ok: boolean,
    durationMs: number,
    result: unknown,
    delivery?: Delivery,
  ): void;
  settled(delivery: Delivery, spans: RunSpans | undefined, outcome: AttemptOutcome): void;
}

export interface RunObserver {
  /** Called once per route when the worker starts. */
  route(name: string): RouteObserver;
}

const NOOP_ROUTE: RouteObserver = {
  started: () => undefined,
  handled: () => undefined,
  settled: () => undefined,
};

export const NOOP_OBSERVER: RunObserver = { route: () => NOOP_ROUTE };

const LIVE_STATUS: Record<AttemptOutcome, LiveRunStatus | undefined> = {
  completed: 'completed',
  skipped: 'skipped',
  retry: 'retrying',
  dead: 'dead',
  released: 'queued',
  parked: 'waiting',
  'lease-lost': undefined,
  deferred: 'queued',
  cancelled: 'cancelled',
  unsettled: undefined,
};

/**
 * Where each run status change goes to be kept (the NATS bus's history). Called on the run path:
 * it must not wait for anything, and a change it loses only loses history.
 */
export interface RunHistory {
  changed(
    route: string,
    delivery: Delivery,
    status: LiveRunStatus,
    failure: { error: unknown } | undefined,
  ): void;
}

export interface DaemonObserverOptions {
  metrics?: AgentdMetrics;
  tracing?: Tracing;
  live?: LiveFeed;
  history?: RunHistory;
}

export class DaemonObserver implements RunObserver {
  constructor(private readonly options: DaemonObserverOptions) {}

  route(name: string): RouteObserver {
    return new ObservedRoute(
      name,
      this.options.metrics?.route(name),
      this.options.tracing,
      this.options.live,
      this.options.history,
    );
  }
}

class ObservedRoute implements RouteObserver {
  private readonly spanNames: RouteSpanNames;

  constructor(
    private readonly name: string,
    private readonly metrics: RouteMetrics | undefined,
    private readonly tracing: Tracing | undefined,
    private readonly live: LiveFeed | undefined,
    private readonly history: RunHistory | undefined,
  ) {
    this.spanNames = new RouteSpanNames(name);
  }

  /** A failed attempt's error, from handled() to settled(), for the history. */
  private readonly failures = new WeakMap<Delivery, { error: unknown }>();

  started(delivery: Delivery): RunSpans | undefined {
    if (this.metrics !== undefined && delivery.attempt === 1) {
      const published = delivery.publishedAt ?? Date.parse(delivery.event.time);
      if (Number.isFinite(published))
        this.metrics.publishToStart.observe(Math.max(0, Date.now() - published) / 1_000);
    }
    if (this.live?.active === true) this.notify(delivery, 'running');
    this.history?.changed(this.name, delivery, 'running', undefined);
    return this.tracing === undefined
      ? undefined
      : new RunSpans(this.tracing, this.spanNames, delivery);
  }

  handled(
    spans: RunSpans | undefined,
    ok: boolean,
    durationMs: number,
    result: unknown,
    delivery?: Delivery,
  ): void {
    if (!ok && delivery !== undefined && this.history !== undefined)
      this.failures.set(delivery, { error: result });
    if (this.metrics !== undefined) {
      (ok ? this.metrics.completed : this.metrics.failed).observe(durationMs / 1_000);
      if (ok) this.metrics.addUsage(result);
    }
    spans?.endHandler(ok ? undefined : result, durationMs);
  }

  settled(delivery: Delivery, spans: RunSpans | undefined, outcome: AttemptOutcome): void {
    spans?.end(outcome);
    const status = LIVE_STATUS[outcome];
    if (status === undefined) return;
    if (this.history !== undefined) {
      this.history.changed(this.name, delivery, status, this.failures.get(delivery));
      this.failures.delete(delivery);
    }
    if (this.live?.active === true) this.notify(delivery, status);
  }

  private notify(delivery: Delivery, status: LiveRunStatus): void {
    this.live?.runChanged({
      runId: delivery.deliveryId,
      route: this.name,
      eventId: delivery.event.id,
      status,
      attempt: delivery.attempt,
      at: Date.now(),
    });
  }
}

// The Prometheus registry behind GET /metrics. What changes per delivery is kept in plain numbers
// (the worker's counters, typed-array histograms, token sums); everything else — backlog, dead
// letters, webhook rejects — is read only when Prometheus scrapes.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { RouteBacklog } from '../bus/sqlite/backlog-sql.js';
import type { RejectCount } from './reject-counter.js';
import { RouteHistogram, type HistogramSeries } from './route-histogram.js';

/** The per-route counters the worker keeps anyway (RouteStats has this shape). */
export interface RouteCounters {
  inFlight: number;
  attempts: number;
  completed: number;
  skipped: number;
  retried: number;
  deadLettered: number;
}

export interface MetricsSources {
  /** The worker's counters per route. */
  routeCounters: () => Record<string, RouteCounters>;
  /** Backlog per route from the store (the embedded store only). */
  backlog?: () => RouteBacklog[];
  /** Refused webhook requests per source and reason. */
  rejects?: () => RejectCount[];
}

/** What one route's runs add to on the hot path: bound series, no label lookups. */
export class RouteMetrics {
  inputTokens = 0;
  outputTokens = 0;
  cacheReadTokens = 0;
  cacheWriteTokens = 0;
  costUsd = 0;

  constructor(
    readonly route: string,
    /** Seconds from the event's publish to the start of its first attempt. */
    readonly publishToStart: HistogramSeries,
    readonly completed: HistogramSeries,
    readonly failed: HistogramSeries,
  ) {}

  /** Adds an agent handler's usage (the `usage` on its result) to the route's totals. */
  addUsage(result: unknown): void {
    if (typeof result !== 'object' || result === null) return;
    const usage = (result as { usage?: unknown }).usage;
    if (typeof usage !== 'object' || usage === null) return;
    const u = usage as Record<string, unknown>;
    this.inputTokens += numberOr0(u.inputTokens);
    this.outputTokens += numberOr0(u.outputTokens);
    this.cacheReadTokens += numberOr0(u.cacheReadTokens);
    this.cacheWriteTokens += numberOr0(u.cacheWriteTokens);
    this.costUsd += numberOr0(u.costUsd);
  }
}

// Queue lag spans sub-millisecond (an idle daemon) to hours (a paused or failing route).
const LATENCY_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900,
  3600,
];
// Handlers range from no-ops to agent loops of many minutes.
const DURATION_BUCKETS = [
  0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800,
];

export class AgentdMetrics {
  readonly registry = new Registry();
  private readonly routes = new Map<string, RouteMetrics>();
  private readonly publishToStart = new RouteHistogram(
    'agentd_publish_to_start_seconds',
    "Seconds from an event's publish to the start of its first attempt, per route",
    LATENCY_BUCKETS,
  );
  private readonly handlerDuration = new RouteHistogram(
    'agentd_handler_duration_seconds',
    'Seconds a handler attempt ran, per route and outcome (completed or failed)',
    DURATION_BUCKETS,
  );

  constructor(private readonly sources: MetricsSources) {
    const registers = [this.registry];
    this.registry.registerMetric(this.publishToStart.asMetric());
    this.registry.registerMetric(this.handlerDuration.asMetric());
    this.workerMetrics(registers);
    this.usageMetrics(registers);
    if (sources.backlog !== undefined) this.storeMetrics(registers, sources.backlog);
    if (sources.rejects !== undefined) this.rejectMetrics(registers, sources.rejects);
    collectDefaultMetrics({ register: this.registry });
  }

  /** The route's bound series; the worker fetches it once per route at start. */
  route(route: string): RouteMetrics {
    let found = this.routes.get(route);
    if (found === undefined) {
      found = new RouteMetrics(
        route,
        this.publishToStart.series({ route }),
        this.handlerDuration.series({ route, outcome: 'completed' }),
        this.handlerDuration.series({ route, outcome: 'failed' }),
      );
      this.routes.set(route, found);
    }
    return found;
  }

  /** The Prometheus text exposition. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private workerMetrics(registers: Registry[]): void {
    const counters = () => Object.entries(this.sources.routeCounters());
    new Counter({
      name: 'agentd_attempts_total',
      help: 'Handler attempts started, per route (filter checks included)',
      labelNames: ['route'],
      registers,
      collect() {
        this.reset();
        for (const [route, c] of counters()) this.labels(route).inc(c.attempts);
      },
    });
    new Counter({
      name: 'agentd_retries_total',
      help: 'Attempts that failed and were scheduled to retry, per route',
      labelNames: ['route'],
      registers,
      collect() {
        this.reset();
        for (const [route, c] of counters()) this.labels(route).inc(c.retried);
      },
    });
    new Counter({
      name: 'agentd_runs_total',
      help: 'Runs finished by this process, per route and outcome (completed, skipped, dead)',
      labelNames: ['route', 'outcome'],
      registers,
      collect() {
        this.reset();
        for (const [route, c] of counters()) {
          this.labels(route, 'completed').inc(c.completed);
          this.labels(route, 'skipped').inc(c.skipped);
          this.labels(route, 'dead').inc(c.deadLettered);
        }
      },
    });
    new Gauge({
      name: 'agentd_runs_in_flight',
      help: 'Handler attempts running now, per route',
      labelNames: ['route'],
      registers,
      collect() {
        this.reset();
        for (const [route, c] of counters()) this.labels(route).set(c.inFlight);
      },
    });
  }

  private usageMetrics(registers: Registry[]): void {
    const routes = () => [...this.routes.values()];
    new Counter({
      name: 'agentd_tokens_total',
      help: 'Model tokens agent handlers reported, per route and kind',
      labelNames: ['route', 'kind'],
      registers,
      collect() {
        this.reset();
        for (const r of routes()) {
          if (r.inputTokens + r.outputTokens + r.cacheReadTokens + r.cacheWriteTokens === 0)
            continue;
          this.labels(r.route, 'input').inc(r.inputTokens);
          this.labels(r.route, 'output').inc(r.outputTokens);
          this.labels(r.route, 'cache_read').inc(r.cacheReadTokens);
          this.labels(r.route, 'cache_write').inc(r.cacheWriteTokens);
        }
      },
    });
    new Counter({
      name: 'agentd_cost_usd_total',
      help: 'Model cost in US dollars agent handlers reported (agents with a price), per route',
      labelNames: ['route'],
      registers,
      collect() {
        this.reset();
        for (const r of routes()) if (r.costUsd > 0) this.labels(r.route).inc(r.costUsd);
      },
    });
  }

  private storeMetrics(registers: Registry[], backlog: () => RouteBacklog[]): void {
    // One store read per scrape, shared by the three gauges below: a scrape collects them all in
    // one tick, so the snapshot is dropped on the next.
    let snapshot: RouteBacklog[] | undefined;
    const current = () => {
      if (snapshot === undefined) {
        snapshot = backlog();
        setImmediate(() => (snapshot = undefined));
      }
      return snapshot;
    };
    new Gauge({
      name: 'agentd_backlog',
      help: 'Deliveries waiting to run, per route: ready (incl. retries in backoff) or behind their key',
      labelNames: ['route', 'state'],
      registers,
      collect() {
        this.reset();
        for (const b of current()) {
          this.labels(b.route, 'ready').set(b.ready);
          this.labels(b.route, 'waiting').set(b.waiting);
        }
      },
    });
    new Gauge({
      name: 'agentd_oldest_ready_age_seconds',
      help: 'Age of the oldest delivery that could run now, per route (0 when none)',
      labelNames: ['route'],
      registers,
      collect() {
        this.reset();
        for (const b of current()) this.labels(b.route).set(b.oldestReadyAgeMs / 1_000);
      },
    });
    new Gauge({
      name: 'agentd_dlq_size',
      help: 'Dead letters, per route',
      labelNames: ['route'],
      registers,
      collect() {
        this.reset();
        for (const b of current()) this.labels(b.route).set(b.dead);
      },
    });
  }

  private rejectMetrics(registers: Registry[], rejects: () => RejectCount[]): void {
    new Counter({
      name: 'agentd_webhook_rejects_total',
      help: 'Ingress requests refused, per source and reason (and route, for backlog-full)',
      labelNames: ['source', 'reason', 'route'],
      registers,
      collect() {
        this.reset();
        for (const { source, reason, route, count } of rejects())
          this.labels(route === undefined ? { source, reason } : { source, reason, route }).inc(
            count,
          );
      },
    });
  }
}

function numberOr0(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

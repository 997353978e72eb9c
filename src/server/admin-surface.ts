// Everything a daemon shows about itself, assembled in one place for the composition root: the
// metrics registry, the tracer (when observe.otlp is set or an exporter is passed), the live feed,
// the run observer the worker reports to, and the admin API over the store's read side (on NATS,
// over the daemon's history file, which src/history builds from the streams).
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type Database from 'better-sqlite3';
import type { Hono } from 'hono';
import type { DeadLetterQueue } from '../bus/bus.js';
import { AdminQueries } from '../bus/sqlite/admin-sql.js';
import { BacklogReader } from '../bus/sqlite/backlog-sql.js';
import { SqliteInspector } from '../bus/sqlite/inspect-sql.js';
import { LineageQueries } from '../bus/sqlite/lineage-sql.js';
import { OutboxBacklogReader } from '../bus/sqlite/outbox-backlog-sql.js';
import type { ResolvedConfig } from '../core/config.js';
import type { GovernorStatus } from '../governor/governor-status.js';
import { LiveFeed } from '../observe/live-feed.js';
import type { Logger } from '../observe/log.js';
import { AgentdMetrics, type RouteCounters } from '../observe/metrics.js';
import { OutboxMetrics } from '../observe/outbox-metrics.js';
import { registerGovernorMetrics, type GovernorReading } from '../observe/governor-metrics.js';
import type { BudgetStatus } from '../governor/budget-ledger.js';
import { DispatchObserver, type OutboxObserver } from '../observe/outbox-observer.js';
import type { RejectCount } from '../observe/reject-counter.js';
import { DaemonObserver, type RunHistory, type RunObserver } from '../observe/run-observer.js';
import { Tracing } from '../observe/tracing.js';
import { outboxPolicy } from '../outbox/outbox-setup.js';
import type { AdminTokens } from './admin-auth.js';
import { createAdminApi, storeBusView, type AdminBusView } from './admin-api.js';

export interface AdminSurfaceOptions {
  config: ResolvedConfig;
  node: string;
  log: Logger;
  /** The embedded store's connection; undefined on NATS (no backlog gauges, no history API). */
  db: Database.Database | undefined;
  /** Read at scrape time: the worker's counters and the webhook reject counts. */
  routeCounters: () => Record<string, RouteCounters>;
  rejects: () => RejectCount[];
  /** Read at scrape time: budgets, pauses and circuits (absent while no worker runs here). */
  governor?: () => GovernorStatus | undefined;
  /** Spans go here instead of (or without) observe.otlp: tests and embedders. */
  traceExporter?: SpanExporter;
  /**
   * On NATS: where this daemon's worker publishes its run changes. The live feed then gets run
   * changes from the history file as it applies them (every worker's), not from this worker.
   */
  runHistory?: RunHistory;
}

/** On NATS: the history file and the bus's own view of routes and dead letters. */
export interface HistoryReadSide {
  db: Database.Database;
  view: AdminBusView;
}

export class AdminSurface {
  readonly metrics: AgentdMetrics;
  readonly tracing: Tracing | undefined;
  readonly live = new LiveFeed();
  readonly observer: RunObserver;
  /** What the outbox dispatcher reports to: send counters and a span per send. */
  readonly outboxObserver: OutboxObserver;
  private readonly streams = new AbortController();

  constructor(private readonly options: AdminSurfaceOptions) {
    const { db } = options;
    const backlog = db === undefined ? undefined : new BacklogReader(db);
    this.metrics = new AgentdMetrics({
      routeCounters: options.routeCounters,
      ...(backlog === undefined ? {} : { backlog: () => backlog.read() }),
      rejects: options.rejects,
    });
    const governor = options.governor;
    if (governor !== undefined)
      registerGovernorMetrics(this.metrics.registry, () => governorReading(governor()));
    this.tracing = tracingFor(options);
    this.observer = new DaemonObserver({
      metrics: this.metrics,
      ...(options.runHistory === undefined ? { live: this.live } : { history: options.runHistory }),
      ...(this.tracing === undefined ? {} : { tracing: this.tracing }),
    });
    const outboxBacklog = db === undefined ? undefined : new OutboxBacklogReader(db);
    // Every sink that can send shows in the gauges, at 0 when nothing waits for it.
    const sinks = [...outboxPolicy(options.config.outbox).sinks].sort();
    this.outboxObserver = new DispatchObserver({
      metrics: new OutboxMetrics(
        this.metrics.registry,
        outboxBacklog === undefined ? undefined : () => outboxBacklog.read(sinks),
      ),
      tracing: this.tracing,
    });
  }

  /** The /api sub-app. */
  api(options: {
    tokens: AdminTokens;
    dlq: DeadLetterQueue;
    inFlight(): Record<string, number>;
    governor?: () => GovernorStatus | undefined;
    /** Required where the surface has no store of its own (NATS). */
    history?: HistoryReadSide;
  }): Hono {
    const { history, ...rest } = options;
    const db = history?.db ?? this.options.db;
    if (db === undefined) throw new Error('the admin API needs the store or a history file');
    const store = {
      queries: new AdminQueries(db),
      lineage: new LineageQueries(db),
      inspector: new SqliteInspector(db),
    };
    return createAdminApi({
      ...rest,
      store,
      view: history?.view ?? storeBusView(store),
      live: this.live,
      log: this.options.log,
      node: this.options.node,
      signal: this.streams.signal,
    });
  }

  /** Ends live streams: an open one would keep the HTTP server from closing. */
  closeStreams(): void {
    this.streams.abort();
  }

  /** Sends the spans still buffered. */
  async stop(): Promise<void> {
    this.closeStreams();
    try {
      await this.tracing?.shutdown();
    } catch (error) {
      this.options.log.warn({ err: error }, 'exporting the last spans failed');
    }
  }
}

function tracingFor(options: AdminSurfaceOptions): Tracing | undefined {
  if (options.traceExporter !== undefined)
    return new Tracing({ exporter: options.traceExporter, node: options.node, immediate: true });
  const otlp = options.config.observe?.otlp;
  if (otlp === undefined) return undefined;
  return Tracing.otlp(
    {
      url: otlp.url,
      ...(otlp.headers === undefined ? {} : { headers: otlp.headers }),
      ...(otlp.protocol === undefined ? {} : { protocol: otlp.protocol }),
      ...(otlp.sampleRatio === undefined ? {} : { sampleRatio: otlp.sampleRatio }),
    },
    options.node,
    // The error says what happened: spans dropped, a collector refusing, the export thread gone.
    (error) => options.log.warn({ err: error }, 'OTLP span export'),
  );
}

/** The governor status as the gauges read it. */
function governorReading(status: GovernorStatus | undefined): GovernorReading | undefined {
  if (status === undefined) return undefined;
  const budgets: GovernorReading['budgets'][number][] = [];
  const add = (budget: BudgetStatus | undefined) => {
    if (budget?.tokens !== undefined)
      budgets.push({ scope: budget.scope, unit: 'tokens', ...budget.tokens });
    if (budget?.costUsd !== undefined)
      budgets.push({ scope: budget.scope, unit: 'usd', ...budget.costUsd });
  };
  for (const route of status.routes) add(route.budget);
  add(status.global.budget);
  return {
    budgets,
    paused: status.routes.flatMap((r) =>
      r.paused === undefined ? [] : [{ route: r.route, cause: r.paused.cause }],
    ),
    openCircuits: status.circuits.filter((c) => c.state !== 'closed'),
  };
}

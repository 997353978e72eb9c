// The outbox's /metrics: sends per sink and outcome and their durations, counted in plain numbers
// as they happen, and what waits in the outbox per sink, read from the store only when scraped.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { SinkBacklog } from '../bus/sqlite/outbox-backlog-sql.js';
import { RouteHistogram, type HistogramSeries } from './route-histogram.js';

// Sends range from a bus publish (sub-millisecond) to a slow API with retries inside the sink.
const SEND_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

interface SinkCounts {
  sent: number;
  retry: number;
  dead: number;
  duration: HistogramSeries;
}

export class OutboxMetrics {
  private readonly sinks = new Map<string, SinkCounts>();
  private readonly duration = new RouteHistogram(
    'agentd_outbox_send_seconds',
    'Seconds one send of an outbox action took, per sink (failed sends included)',
    SEND_BUCKETS,
  );

  /** `backlog` reads the store (the embedded store only; without it there are no gauges). */
  constructor(registry: Registry, backlog?: () => SinkBacklog[]) {
    const registers = [registry];
    registry.registerMetric(this.duration.asMetric());
    const sinks = () => [...this.sinks.entries()];
    new Counter({
      name: 'agentd_outbox_sends_total',
      help: 'Outbox sends by this process, per sink and outcome (sent, retry: failed and tried again later, dead: failed for good)',
      labelNames: ['sink', 'outcome'],
      registers,
      collect() {
        this.reset();
        for (const [sink, c] of sinks()) {
          this.labels(sink, 'sent').inc(c.sent);
          this.labels(sink, 'retry').inc(c.retry);
          this.labels(sink, 'dead').inc(c.dead);
        }
      },
    });
    if (backlog !== undefined) this.backlogMetrics(registers, backlog);
  }

  /** One send ended after `seconds`. */
  sent(sink: string, outcome: 'sent' | 'retry' | 'dead', seconds: number): void {
    let counts = this.sinks.get(sink);
    if (counts === undefined) {
      counts = { sent: 0, retry: 0, dead: 0, duration: this.duration.series({ sink }) };
      this.sinks.set(sink, counts);
    }
    counts[outcome]++;
    counts.duration.observe(seconds);
  }

  private backlogMetrics(registers: Registry[], backlog: () => SinkBacklog[]): void {
    // One store read per scrape, shared by the gauges below (a scrape collects them in one tick).
    let snapshot: SinkBacklog[] | undefined;
    const current = () => {
      if (snapshot === undefined) {
        snapshot = backlog();
        setImmediate(() => (snapshot = undefined));
      }
      return snapshot;
    };
    const gauge = (name: string, help: string, value: (b: SinkBacklog) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['sink'],
        registers,
        collect() {
          this.reset();
          for (const b of current()) this.labels(b.sink).set(value(b));
        },
      });
    gauge(
      'agentd_outbox_pending',
      'Outbox actions not sent yet, per sink: due, waiting for a retry, or being sent',
      (b) => b.pending,
    );
    gauge(
      'agentd_outbox_awaiting_approval',
      'Outbox actions waiting for an operator to approve or reject them, per sink',
      (b) => b.awaitingApproval,
    );
    gauge(
      'agentd_outbox_dead',
      "Outbox actions that failed for good, per sink (the outbox's dead-letter queue)",
      (b) => b.dead,
    );
  }
}

// The governor's /metrics: budget limits, use and what is left per scope and unit, paused routes
// and open circuits, all read from the worker's governor status when Prometheus scrapes.
import { Gauge, type Registry } from 'prom-client';

/** What the gauges read; the daemon maps its GovernorStatus onto it (observe stays below it). */
export interface GovernorReading {
  budgets: readonly {
    scope: string;
    unit: 'tokens' | 'usd';
    limit: number;
    used: number;
    left: number;
  }[];
  paused: readonly { route: string; cause: string }[];
  openCircuits: readonly { kind: string; name: string; state: string }[];
}

export function registerGovernorMetrics(
  registry: Registry,
  read: () => GovernorReading | undefined,
): void {
  const registers = [registry];
  // One status read per scrape, shared by the gauges below: a scrape collects them in one tick.
  let snapshot: GovernorReading | undefined;
  let taken = false;
  const current = () => {
    if (!taken) {
      taken = true;
      snapshot = read();
      queueMicrotask(() => {
        taken = false;
      });
    }
    return snapshot;
  };
  const budgetGauge = (name: string, help: string, pick: 'limit' | 'used' | 'left') =>
    new Gauge({
      name,
      help,
      labelNames: ['scope', 'unit'],
      registers,
      collect() {
        this.reset();
        for (const b of current()?.budgets ?? []) this.labels(b.scope, b.unit).set(b[pick]);
      },
    });
  budgetGauge(
    'agentd_budget_limit',
    'Budget limit in the current window, per scope (route or global) and unit (tokens, usd)',
    'limit',
  );
  budgetGauge('agentd_budget_used', 'Budget used in the current window', 'used');
  budgetGauge('agentd_budget_left', 'Budget left in the current window', 'left');
  new Gauge({
    name: 'agentd_route_paused',
    help: 'Routes that take no deliveries now (1), by cause: operator (agentd pause) or budget',
    labelNames: ['route', 'cause'],
    registers,
    collect() {
      this.reset();
      for (const p of current()?.paused ?? []) this.labels(p.route, p.cause).set(1);
    },
  });
  new Gauge({
    name: 'agentd_circuit_open',
    help: 'Providers and outbox sinks whose circuit is not closed (1), by state: open or half-open',
    labelNames: ['kind', 'name', 'state'],
    registers,
    collect() {
      this.reset();
      for (const c of current()?.openCircuits ?? []) this.labels(c.kind, c.name, c.state).set(1);
    },
  });
}

// GET /api/routes, /api/dlq and a run's steps on a NATS bus: from the bus itself (each route's
// consumer, the DLQ stream, the state bucket), not from the history file, whose runs are only as
// complete as the run changes it got. Only what the bus does not count (completed and retrying
// runs) comes from the file.
import type Database from 'better-sqlite3';
import type { NatsBus } from '../bus/nats/nats-bus.js';
import { runStatus } from '../bus/sqlite/inspect-sql.js';
import { natsStatus } from '../bus/nats/nats-inspect.js';
import type { AdminBusView, DeadFilter } from '../server/admin-api.js';
import type { DeadLetterSummary, Page, RouteStatus } from '../server/admin-types.js';
import { natsRunSteps } from './nats-run-steps.js';

export function natsAdminView(bus: NatsBus, history: Database.Database): AdminBusView {
  // Through deliveries_sub: the route's rows only.
  const counts = history.prepare<[string], { state: string; attempt: number; n: number }>(
    `SELECT state, attempt > 0 AS attempt, count(*) AS n FROM deliveries WHERE sub = ?
      GROUP BY state, attempt > 0`,
  );
  const fromHistory = (route: string) => {
    let completed = 0;
    let retrying = 0;
    for (const row of counts.all(route)) {
      const status = runStatus(row.state, row.attempt);
      if (status === 'completed') completed += row.n;
      else if (status === 'retrying') retrying += row.n;
    }
    return { completed, retrying };
  };
  const dead = async (filter: DeadFilter) => {
    const all = await bus.dlq.list({
      limit: Number.MAX_SAFE_INTEGER,
      ...(filter.route === undefined ? {} : { subscription: filter.route }),
      ...(filter.type === undefined ? {} : { type: filter.type }),
    });
    // Newest first; a cursor is the last id of the page before (ids are DLQ stream sequences).
    return filter.cursor === undefined
      ? all
      : all.filter((d) => Number(d.deliveryId) < (filter.cursor ?? 0));
  };
  return {
    async routes(): Promise<RouteStatus[]> {
      const { routes } = await natsStatus(bus);
      return routes.map((r) => ({
        route: r.route,
        active: r.active,
        types: r.types,
        queued: r.queued,
        // Out with a worker: running, behind its key or waiting for a retry (the history file's
        // count of those waiting for a retry is shown beside it, not taken from it).
        running: r.outstanding,
        dead: r.dead,
        ...fromHistory(r.route),
        oldestQueuedAgeMs: null,
      }));
    },
    async deadLetters(filter): Promise<Page<DeadLetterSummary>> {
      const found = await dead(filter);
      const items = found.slice(0, filter.limit).map((d) => ({
        deliveryId: d.deliveryId,
        route: d.subscription,
        eventId: d.event.id,
        eventType: d.event.type,
        attempts: d.attempts,
        reason: d.reason,
        errors: d.errors,
        deadAt: d.deadAt,
      }));
      const last = items.at(-1);
      return {
        items,
        nextCursor: found.length > filter.limit && last !== undefined ? last.deliveryId : null,
      };
    },
    async deadIds(filter) {
      return (await dead(filter)).map((d) => d.deliveryId);
    },
    runSteps: (run) => natsRunSteps(bus.store, run),
  };
}

// Run statuses as the admin filters read them: which index lists the runs in a status (its
// "sources"), and the same status as a plain check on one row. Each source names its partial
// index (SQLite could otherwise pick deliveries_sub or deliveries_seq and read a route's or a seq
// range's every run) and repeats the index's WHERE word for word, which SQLite requires of a
// query that uses a partial index.
import type { RunStatus } from '../../server/admin-types.js';

/** SQL conditions on `deliveries d` for each run status (the admin queries use them too). */
export const STATES_FOR: Record<RunStatus, string> = {
  queued: `d.state IN ('waiting', 'ready', 'batched') AND (d.state <> 'ready' OR d.attempt = 0)`,
  retrying: `d.state = 'ready' AND d.attempt > 0`,
  running: `d.state = 'leased'`,
  waiting: `d.state = 'parked'`,
  completed: `d.state = 'acked'`,
  skipped: `d.state = 'skipped'`,
  cancelled: `d.state = 'cancelled'`,
  dead: `d.state = 'dead'`,
  replayed: `d.state = 'replayed'`,
};

/**
 * `SELECT id, seq FROM … d WHERE …` over the runs in a status, one per partial index (the waits
 * table for parked runs). Undefined for 'completed': most runs end so, no index lists them (one
 * would cost every ack a write), and a walk newest first meets them at once.
 */
export const STATUS_SOURCES: Record<RunStatus, readonly string[] | undefined> = {
  queued: [
    deliveries('deliveries_waiting', `d.state = 'waiting'`),
    deliveries('deliveries_ready', `d.state = 'ready' AND d.attempt = 0`),
    deliveries('deliveries_batch', `d.batch IS NOT NULL AND d.state = 'batched'`),
  ],
  retrying: [deliveries('deliveries_ready', `d.state = 'ready' AND d.attempt > 0`)],
  running: [deliveries('deliveries_leased', `d.state = 'leased'`)],
  // A parked run has exactly one waits row, kept while it is parked (wait-sql.ts).
  waiting: [
    `SELECT d.id AS id, d.seq AS seq FROM (SELECT delivery AS id, seq, sub FROM waits) d WHERE 1 = 1`,
  ],
  completed: undefined,
  skipped: [ended('skipped')],
  cancelled: [ended('cancelled')],
  dead: [deliveries('deliveries_dead', `d.state = 'dead'`)],
  replayed: [ended('replayed')],
};

function deliveries(index: string, where: string): string {
  return `SELECT d.id AS id, d.seq AS seq FROM deliveries d INDEXED BY ${index} WHERE ${where}`;
}

/** deliveries_ended holds the rare final states. */
function ended(state: 'skipped' | 'cancelled' | 'replayed'): string {
  return deliveries(
    'deliveries_ended',
    `d.state IN ('skipped', 'cancelled', 'replayed') AND d.state = '${state}'`,
  );
}

/**
 * The status as a check on `deliveries d` that no index answers (unary + hides the column from
 * the planner), for a query another filter drives: SQLite must not swap in a status index whose
 * rows it would then sort, when the driving index already gives them newest first.
 */
export function statusCheck(status: RunStatus): string {
  return `(${STATES_FOR[status].replaceAll('d.state', '+d.state')})`;
}

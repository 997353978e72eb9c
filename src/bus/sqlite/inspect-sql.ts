// Read-side queries over the embedded store for the CLI (and later the admin API): events, runs,
// per-route status. Nothing here writes.
import type Database from 'better-sqlite3';
import type { AgentdEvent } from '../../core/envelope.js';
import type { ErrorRecord } from '../bus.js';
import { RunSearch, type RunFilter } from './run-search-sql.js';
import {
  RUN_STATUSES,
  type RouteStatus,
  type RunRecord,
  type RunStatus,
} from '../../server/admin-types.js';

// The shapes the admin API answers with are shared with the dashboard (server/admin-types.ts).
export { RUN_STATUSES, type RunRecord, type RouteStatus, type RunStatus };

export interface StoredEvent {
  seq: number;
  storedAt: string;
  event: AgentdEvent;
  /** Delivery states per route, e.g. { 'demo.hello': 'completed' }. */
  runs: Record<string, RunStatus>;
}

export interface DeliveryRow {
  id: number;
  sub: string;
  state: string;
  attempt: number;
  pkey: string | null;
  errors: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  type: string;
  event_id: string;
  reason?: string | null;
}

export function runStatus(state: string, attempt: number): RunStatus {
  switch (state) {
    case 'waiting':
    case 'batched':
      // A batch member: queued until its batch's run settles it.
      return 'queued';
    case 'ready':
      return attempt > 0 ? 'retrying' : 'queued';
    case 'leased':
      return 'running';
    case 'parked':
      // ctx.waitForEvent: waiting for an event, holding no worker slot.
      return 'waiting';
    case 'acked':
      return 'completed';
    case 'skipped':
    case 'cancelled':
    case 'dead':
    case 'replayed':
      return state;
    default:
      throw new Error(`unknown delivery state ${state}`);
  }
}

interface EventRow {
  seq: number;
  stored_at: number;
  type: string;
  envelope: string;
}

export class SqliteInspector {
  private readonly runsOf: Database.Statement<
    [number],
    { sub: string; state: string; attempt: number }
  >;

  constructor(private readonly db: Database.Database) {
    this.runsOf = db.prepare(
      `SELECT sub, state, attempt FROM deliveries WHERE seq = ? ORDER BY id`,
    );
  }

  /** Newest first, or oldest first after `afterSeq` (for --follow), optionally of matching types. */
  events(filter: {
    afterSeq?: number;
    uptoSeq?: number;
    limit: number;
    match?: (type: string) => boolean;
  }): StoredEvent[] {
    const rows =
      filter.afterSeq === undefined
        ? this.db
            .prepare<[], EventRow>(
              `SELECT seq, stored_at, type, envelope FROM events ORDER BY seq DESC`,
            )
            .iterate()
        : this.db
            .prepare<[number, number], EventRow>(
              `SELECT seq, stored_at, type, envelope FROM events WHERE seq > ? AND seq <= ? ORDER BY seq`,
            )
            .iterate(filter.afterSeq, filter.uptoSeq ?? Number.MAX_SAFE_INTEGER);
    const out: StoredEvent[] = [];
    for (const row of rows) {
      if (filter.match !== undefined && !filter.match(row.type)) continue;
      out.push(this.storedEvent(row));
      if (out.length >= filter.limit) break;
    }
    return out;
  }

  private storedEvent(row: EventRow): StoredEvent {
    const runs: Record<string, RunStatus> = {};
    for (const d of this.runsOf.all(row.seq)) runs[d.sub] = runStatus(d.state, d.attempt);
    return {
      seq: row.seq,
      storedAt: new Date(row.stored_at).toISOString(),
      event: JSON.parse(row.envelope) as AgentdEvent,
      runs,
    };
  }

  lastSeq(): number {
    return (
      this.db.prepare<[], { seq: number | null }>(`SELECT max(seq) AS seq FROM events`).get()
        ?.seq ?? 0
    );
  }

  /** Newest first: the admin API's runs query, without its paging. */
  runs(filter: RunFilter): RunRecord[] {
    return new RunSearch(this.db).page(filter).rows.map(toRunRecord);
  }

  routes(): RouteStatus[] {
    const subs = this.db
      .prepare<[], { name: string; types: string; active: number }>(
        `SELECT name, types, active FROM subscriptions ORDER BY name`,
      )
      .all();
    const counts = this.db.prepare<
      [string],
      { state: string; retry: number; n: number; oldest: number | null }
    >(
      `SELECT state, attempt > 0 AS retry, count(*) AS n, min(CASE WHEN state IN ('ready', 'waiting') THEN available_at END) AS oldest
         FROM deliveries WHERE sub = ? GROUP BY state, attempt > 0`,
    );
    const now = Date.now();
    return subs.map((sub) => {
      const status: RouteStatus = {
        route: sub.name,
        active: sub.active === 1,
        types: JSON.parse(sub.types) as string[],
        queued: 0,
        running: 0,
        retrying: 0,
        dead: 0,
        completed: 0,
        oldestQueuedAgeMs: null,
      };
      for (const row of counts.all(sub.name)) {
        const key = runStatus(row.state, row.retry);
        if (
          key === 'queued' ||
          key === 'running' ||
          key === 'retrying' ||
          key === 'dead' ||
          key === 'completed'
        )
          status[key] += row.n;
        if (row.oldest !== null && row.oldest <= now) {
          const age = now - row.oldest;
          status.oldestQueuedAgeMs = Math.max(status.oldestQueuedAgeMs ?? 0, age);
        }
      }
      return status;
    });
  }

  totalEvents(): number {
    return this.db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM events`).get()?.n ?? 0;
  }
}

export function toRunRecord(row: DeliveryRow): RunRecord {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    runId: String(row.id),
    route: row.sub,
    status: runStatus(row.state, row.attempt),
    attempt: row.attempt,
    eventId: row.event_id,
    eventType: row.type,
    partitionkey: row.pkey,
    createdAt: new Date(row.created_at).toISOString(),
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
    durationMs:
      row.started_at !== null && row.finished_at !== null ? row.finished_at - row.started_at : null,
    errors: row.errors === null ? [] : (JSON.parse(row.errors) as ErrorRecord[]),
    ...(row.reason === undefined || row.reason === null ? {} : { reason: row.reason }),
  };
}

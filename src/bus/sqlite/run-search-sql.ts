// Pages of runs (deliveries) for GET /api/runs and `agentd runs`, newest first, at any size of
// store. As with events (event-search-sql.ts), one filter's index drives and the others are
// checked on each row: an event id through events_source_id and deliveries_seq; a status through
// its partial indexes while it holds few runs (counted up to PROBE_LIMIT), since SQLite sorts
// what they give; a route through deliveries_sub (sub, id); else the walk down the ids.
import type Database from 'better-sqlite3';
import { EventById } from './event-by-id-sql.js';
import { PROBE_LIMIT } from './event-search-sql.js';
import type { DeliveryRow, RunStatus } from './inspect-sql.js';
import { STATUS_SOURCES, statusCheck } from './run-status-sql.js';
import { StatementCache } from './statement-cache.js';

export interface RunFilter {
  route?: string;
  status?: RunStatus;
  eventId?: string;
  cursor?: number;
  limit: number;
}

type Param = string | number;

interface Term {
  sql: string;
  params: Param[];
}

export class RunSearch {
  private readonly byId: EventById;
  private readonly statements: StatementCache;

  constructor(db: Database.Database) {
    this.statements = new StatementCache(db);
    this.byId = new EventById(db);
  }

  /** A page of matching runs, newest first, and whether older ones match too. */
  page(filter: RunFilter): { rows: DeliveryRow[]; more: boolean } {
    const below = filter.cursor ?? Number.MAX_SAFE_INTEGER;
    const checks: Term[] = [];
    if (filter.eventId !== undefined) {
      const seqs = this.byId.all(filter.eventId).map((row) => row.seq);
      if (seqs.length === 0) return { rows: [], more: false };
      checks.push({ sql: `d.seq IN (${seqs.map(() => '?').join(', ')})`, params: seqs });
    }
    if (filter.route !== undefined) checks.push({ sql: '+d.sub = ?', params: [filter.route] });
    if (filter.status !== undefined) checks.push({ sql: statusCheck(filter.status), params: [] });
    // An event's runs are few and deliveries_seq finds them: the id list above drives.
    const driver = filter.eventId === undefined ? this.driver(filter, below) : undefined;
    const terms = [...(driver === undefined ? [] : [driver]), ...checks];
    const rows = this.statements
      .get<Param[], DeliveryRow>(
        `SELECT d.id, d.sub, d.state, d.attempt, d.pkey, d.errors, d.reason, d.created_at,
                d.started_at, d.finished_at, e.type, e.id AS event_id
           FROM deliveries d JOIN events e ON e.seq = d.seq
          WHERE d.id < ?${terms.map((t) => ` AND ${t.sql}`).join('')}
          ORDER BY d.id DESC LIMIT ?`,
      )
      .all(below, ...terms.flatMap((t) => t.params), filter.limit + 1);
    return { rows: rows.slice(0, filter.limit), more: rows.length > filter.limit };
  }

  /** A few runs in the status, else the route's runs, else none (the walk down the ids). */
  private driver(filter: RunFilter, below: number): Term | undefined {
    const sources = filter.status === undefined ? undefined : STATUS_SOURCES[filter.status];
    if (sources !== undefined) {
      const route = filter.route === undefined ? '' : ' AND d.sub = ?';
      const union = sources.map((source) => `${source}${route} AND +d.id < ?`).join(' UNION ALL ');
      const params = sources.flatMap(() => [
        ...(filter.route === undefined ? [] : [filter.route]),
        below,
      ]);
      const few =
        (this.statements
          .get<Param[], { n: number }>(`SELECT count(*) AS n FROM (${union} LIMIT ?)`)
          .get(...params, PROBE_LIMIT)?.n ?? 0) < PROBE_LIMIT;
      if (few) return { sql: `d.id IN (SELECT id FROM (${union}))`, params };
    }
    return filter.route === undefined ? undefined : { sql: 'd.sub = ?', params: [filter.route] };
  }
}

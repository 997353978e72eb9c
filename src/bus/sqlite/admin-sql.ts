// Read-side queries for the admin API and the dashboard: pages of events, runs and dead letters,
// newest first, with keyset cursors (a cursor is the last row's seq or id, so a page costs the
// same on the first page and the thousandth), and one run with its steps. Nothing here writes.
import type Database from 'better-sqlite3';
import type { AgentdEvent } from '../../core/envelope.js';
import type { ErrorRecord } from '../bus.js';
import type {
  DeadLetterSummary,
  EventRun,
  EventSummary,
  Page,
  RunDetail,
  RunRecord,
  StepRecord,
} from '../../server/admin-types.js';
import { EventById, type EventRow } from './event-by-id-sql.js';
import { EventSearch, type EventFilter } from './event-search-sql.js';
import { runStatus, toRunRecord, type DeliveryRow } from './inspect-sql.js';
import { RunSearch, type RunFilter } from './run-search-sql.js';

export type { DeadLetterSummary, EventRun, EventSummary, Page, RunDetail, StepRecord };

export type { EventFilter, RunFilter };

export class AdminQueries {
  private readonly runsOf: Database.Statement<
    [number],
    { id: number; sub: string; state: string; attempt: number }
  >;
  private readonly byId: EventById;
  private readonly search: EventSearch;
  private readonly runSearch: RunSearch;
  private readonly topSeq: Database.Statement<[], { seq: number | null }>;
  private readonly after: Database.Statement<[number, number], EventRow>;
  private readonly stepsOf: Database.Statement<
    [string, number],
    { name: string; value: string; at: number }
  >;
  private readonly waitOf: Database.Statement<
    [number],
    {
      step: string;
      type: string;
      match: string | null;
      deadline: number | null;
      created_at: number;
    }
  >;
  private readonly runRow: Database.Statement<
    [number],
    DeliveryRow & { seq: number; reason: string | null; envelope: string }
  >;

  constructor(private readonly db: Database.Database) {
    this.runsOf = db.prepare(
      `SELECT id, sub, state, attempt FROM deliveries WHERE seq = ? ORDER BY id`,
    );
    this.byId = new EventById(db);
    this.search = new EventSearch(db);
    this.runSearch = new RunSearch(db);
    this.topSeq = db.prepare(`SELECT max(seq) AS seq FROM events`);
    this.after = db.prepare(
      `SELECT seq, stored_at, envelope FROM events WHERE seq > ? ORDER BY seq LIMIT ?`,
    );
    this.stepsOf = db.prepare(`SELECT name, value, at FROM steps WHERE sub = ? AND seq = ?`);
    // A parked delivery has exactly one waits row (wait-sql.ts), keyed by the delivery id.
    this.waitOf = db.prepare(
      `SELECT step, type, match, deadline, created_at FROM waits WHERE delivery = ?`,
    );
    this.runRow = db.prepare(
      `SELECT d.id, d.sub, d.seq, d.state, d.attempt, d.pkey, d.errors, d.reason, d.created_at,
              d.started_at, d.finished_at, e.type, e.id AS event_id, e.envelope
         FROM deliveries d JOIN events e ON e.seq = d.seq WHERE d.id = ?`,
    );
  }

  events(filter: EventFilter): Page<EventSummary> {
    const { rows, more } = this.search.page(filter);
    return page(
      rows.map((row) => this.summary(row)),
      more,
      (item) => item.seq,
    );
  }

  /** The newest event with this id (ids are unique per source; a clash across sources is rare). */
  event(id: string): (EventSummary & { event: AgentdEvent }) | undefined {
    const row = this.byId.find(id);
    if (row === undefined) return undefined;
    return { ...this.summary(row, true), event: JSON.parse(row.envelope) as AgentdEvent };
  }

  lastSeq(): number {
    return this.topSeq.get()?.seq ?? 0;
  }

  /** Events stored after `afterSeq`, oldest first: what the live stream sends. */
  eventsAfter(afterSeq: number, limit: number): EventSummary[] {
    return this.after.all(afterSeq, limit).map((row) => this.summary(row));
  }

  runs(filter: RunFilter): Page<RunRecord> {
    const { rows, more } = this.runSearch.page(filter);
    return page(rows.map(toRunRecord), more, (r) => Number(r.runId));
  }

  /** One run with its event and the steps it (or an earlier attempt) recorded, in order. */
  run(runId: number): RunDetail | undefined {
    const row = this.runRow.get(runId);
    if (row === undefined) return undefined;
    const steps = this.stepsOf
      .all(row.sub, row.seq)
      .sort((a, b) => a.at - b.at || naturalCompare(a.name, b.name))
      .map((s) => ({
        name: s.name,
        at: new Date(s.at).toISOString(),
        value: (JSON.parse(s.value) as { v?: unknown }).v,
      }));
    const wait = row.state === 'parked' ? this.waitOf.get(runId) : undefined;
    return {
      ...toRunRecord(row),
      deadReason: row.reason,
      event: JSON.parse(row.envelope) as AgentdEvent,
      steps,
      ...(wait === undefined
        ? {}
        : {
            wait: {
              step: wait.step,
              type: wait.type,
              match: wait.match === null ? null : (JSON.parse(wait.match) as unknown),
              since: new Date(wait.created_at).toISOString(),
              deadline: wait.deadline === null ? null : new Date(wait.deadline).toISOString(),
            },
          }),
    };
  }

  deadLetters(filter: {
    route?: string;
    type?: string;
    cursor?: number;
    limit: number;
  }): Page<DeadLetterSummary> {
    const rows = this.deadRows(filter, filter.limit + 1);
    const more = rows.length > filter.limit;
    const items = rows.slice(0, filter.limit).map((row) => ({
      deliveryId: String(row.id),
      route: row.sub,
      eventId: row.event_id,
      eventType: row.type,
      attempts: row.attempt,
      reason: row.reason ?? '',
      errors: row.errors === null ? [] : (JSON.parse(row.errors) as ErrorRecord[]),
      deadAt: new Date(row.finished_at).toISOString(),
    }));
    return page(items, more, (d) => Number(d.deliveryId));
  }

  /** Every dead letter's id matching the filter: what "replay by filter" and bulk purge act on. */
  deadIds(filter: { route?: string; type?: string }): string[] {
    return this.deadRows(filter, Number.MAX_SAFE_INTEGER).map((row) => String(row.id));
  }

  private deadRows(
    filter: { route?: string; type?: string; cursor?: number },
    limit: number,
  ): {
    id: number;
    sub: string;
    attempt: number;
    reason: string | null;
    errors: string | null;
    finished_at: number;
    type: string;
    event_id: string;
  }[] {
    // deliveries_dead (sub, id) WHERE state = 'dead' serves the route filter and the order.
    return this.db
      .prepare<
        [
          number | null,
          number | null,
          string | null,
          string | null,
          string | null,
          string | null,
          number,
        ],
        {
          id: number;
          sub: string;
          attempt: number;
          reason: string | null;
          errors: string | null;
          finished_at: number;
          type: string;
          event_id: string;
        }
      >(
        `SELECT d.id, d.sub, d.attempt, d.reason, d.errors, d.finished_at, e.type, e.id AS event_id
           FROM deliveries d JOIN events e ON e.seq = d.seq
          WHERE d.state = 'dead' AND (? IS NULL OR d.id < ?) AND (? IS NULL OR d.sub = ?)
            AND (? IS NULL OR e.type = ?)
          ORDER BY d.id DESC LIMIT ?`,
      )
      .all(
        filter.cursor ?? null,
        filter.cursor ?? null,
        filter.route ?? null,
        filter.route ?? null,
        filter.type ?? null,
        filter.type ?? null,
        limit,
      );
  }

  private summary(row: EventRow, keepData = false): EventSummary {
    const event = JSON.parse(row.envelope) as AgentdEvent;
    if (!keepData) {
      delete event.data;
      delete event.data_base64;
    }
    return {
      seq: row.seq,
      storedAt: new Date(row.stored_at).toISOString(),
      event,
      runs: this.runsOf.all(row.seq).map((d) => ({
        runId: String(d.id),
        route: d.sub,
        status: runStatus(d.state, d.attempt),
        attempt: d.attempt,
      })),
    };
  }
}

function page<T>(items: T[], more: boolean, cursorOf: (item: T) => number): Page<T> {
  const last = items.at(-1);
  return { items, nextCursor: more && last !== undefined ? String(cursorOf(last)) : null };
}

/** `turn-2` before `turn-10`: steps written in the same millisecond keep their loop order. */
function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

// The history projection's writes into its SQLite file, which has the embedded store's schema
// (schema.ts), so the store's read side (admin-sql.ts, lineage-sql.ts, inspect-sql.ts) reads it
// unchanged. Events keep their NATS stream sequence as seq; runs get an integer id of the file's
// own, mapped from the NATS delivery id in history_runs.
import type Database from 'better-sqlite3';
import type { AgentdEvent } from '../core/envelope.js';
import type { HistoryMessage } from './history-message.js';

// The run id map. id is the runs' deliveries.id; a run's row and its map entry go together.
const HISTORY_SCHEMA = `
CREATE TABLE IF NOT EXISTS history_runs (
  id INTEGER PRIMARY KEY,
  run TEXT NOT NULL UNIQUE
);
`;

/** Where each consumer stands (the last stream sequence applied) and which stream it read. */
export const POSITION = {
  events: 'history.events.seq',
  runs: 'history.runs.seq',
  eventsStream: 'history.events.created',
  runsStream: 'history.runs.created',
} as const;

/** States a run does not leave: a later message about it is an older attempt's, arriving late. */
const FINAL = new Set(['acked', 'dead', 'skipped', 'cancelled', 'replayed']);

const STATE_OF: Record<HistoryMessage['status'], string> = {
  queued: 'ready',
  retrying: 'ready',
  running: 'leased',
  waiting: 'parked',
  completed: 'acked',
  skipped: 'skipped',
  cancelled: 'cancelled',
  dead: 'dead',
};

interface EventRef {
  seq: number;
  partitionkey: string | null;
  stored_at: number;
}

interface RunState {
  state: string;
  errors: string | null;
  reason: string | null;
  started_at: number | null;
}

export interface AppliedRun {
  id: number;
  eventId: string;
}

export class HistoryStatements {
  private readonly insertEvent: Database.Statement<
    [number, string, string, string, string | null, string, number, string]
  >;
  private readonly eventAt: Database.Statement<[number], EventRef>;
  private readonly eventBySourceId: Database.Statement<[string, string], EventRef>;
  private readonly runIdOf: Database.Statement<[string], { id: number }>;
  private readonly newRunId: Database.Statement<[string]>;
  private readonly runState: Database.Statement<[number], RunState>;
  private readonly insertRun: Database.Statement<
    [
      number,
      string,
      number,
      string | null,
      string,
      number,
      number,
      string | null,
      string | null,
      number,
      number | null,
      number | null,
    ]
  >;
  private readonly updateRun: Database.Statement<
    [string, number, string | null, string | null, number | null, number | null, number]
  >;
  private readonly markReplayed: Database.Statement<[number, string, number]>;
  private readonly getMeta: Database.Statement<[string], { value: string }>;
  private readonly setMeta: Database.Statement<[string, string]>;
  private readonly firstKept: Database.Statement<[number], { seq: number }>;
  private readonly pruneRunIds: Database.Statement<[number]>;
  private readonly pruneRuns: Database.Statement<[number]>;
  private readonly pruneEvents: Database.Statement<[number]>;

  constructor(private readonly db: Database.Database) {
    db.exec(HISTORY_SCHEMA);
    // A second copy of an event (same source and id, after NATS's duplicate window) is dropped, as
    // the embedded store drops it: its runs are credited to the first.
    this.insertEvent = db.prepare(
      `INSERT INTO events (seq, source, id, type, partitionkey, correlationid, stored_at, envelope)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    );
    this.eventAt = db.prepare(`SELECT seq, partitionkey, stored_at FROM events WHERE seq = ?`);
    this.eventBySourceId = db.prepare(
      `SELECT seq, partitionkey, stored_at FROM events WHERE source = ? AND id = ?`,
    );
    this.runIdOf = db.prepare(`SELECT id FROM history_runs WHERE run = ?`);
    this.newRunId = db.prepare(`INSERT INTO history_runs (run) VALUES (?)`);
    this.runState = db.prepare(
      `SELECT state, errors, reason, started_at FROM deliveries WHERE id = ?`,
    );
    this.insertRun = db.prepare(
      `INSERT INTO deliveries (id, sub, seq, pkey, state, available_at, attempt, errors, reason,
                               created_at, started_at, finished_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.updateRun = db.prepare(
      `UPDATE deliveries SET state = ?, attempt = ?, errors = ?, reason = ?, started_at = ?,
              finished_at = ? WHERE id = ?`,
    );
    // A new run of a (route, event) that had a dead one: the dead one was replayed from the DLQ,
    // which the embedded store shows as 'replayed'. deliveries_seq finds the event's few runs;
    // left to itself SQLite picks deliveries_sub and reads every run of the route.
    this.markReplayed = db.prepare(
      `UPDATE deliveries INDEXED BY deliveries_seq SET state = 'replayed'
        WHERE seq = ? AND sub = ? AND state = 'dead' AND id <> ?`,
    );
    this.getMeta = db.prepare(`SELECT value FROM meta WHERE key = ?`);
    this.setMeta = db.prepare(
      `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
    );
    // Walks up from the oldest event: it reads exactly the rows that are about to go.
    this.firstKept = db.prepare(`SELECT seq FROM events WHERE stored_at >= ? ORDER BY seq LIMIT 1`);
    this.pruneRunIds = db.prepare(
      `DELETE FROM history_runs WHERE id IN (SELECT id FROM deliveries WHERE seq < ?)`,
    );
    this.pruneRuns = db.prepare(`DELETE FROM deliveries WHERE seq < ?`);
    this.pruneEvents = db.prepare(`DELETE FROM events WHERE seq < ?`);
  }

  meta(key: string): string | undefined {
    return this.getMeta.get(key)?.value;
  }

  setPosition(key: string, value: string | number): void {
    this.setMeta.run(key, String(value));
  }

  addEvent(seq: number, storedAt: number, event: AgentdEvent): void {
    this.insertEvent.run(
      seq,
      event.source,
      event.id,
      event.type,
      event.partitionkey ?? null,
      event.correlationid,
      storedAt,
      JSON.stringify(event),
    );
  }

  /**
   * Applies one run status change. Undefined when its event is not here (gone by age, or a
   * duplicate dropped) or the run already ended: nothing to show for it.
   */
  applyRun(m: HistoryMessage): AppliedRun | undefined {
    const event = this.eventAt.get(m.seq) ?? this.eventBySourceId.get(m.source, m.eventId);
    if (event === undefined) return undefined;
    const state = STATE_OF[m.status];
    const ended = FINAL.has(state) ? m.at : null;
    const found = this.runIdOf.get(m.run);
    if (found === undefined) {
      const id = Number(this.newRunId.run(m.run).lastInsertRowid);
      const errors = withError(m.errors ?? [], m);
      this.insertRun.run(
        id,
        m.route,
        event.seq,
        event.partitionkey,
        state,
        event.stored_at,
        m.attempt,
        errors.length === 0 ? null : JSON.stringify(errors),
        reasonOf(m) ?? null,
        event.stored_at,
        m.status === 'running' ? m.at : null,
        ended,
      );
      this.markReplayed.run(event.seq, m.route, id);
      return { id, eventId: m.eventId };
    }
    const row = this.runState.get(found.id);
    if (row === undefined || FINAL.has(row.state)) return undefined;
    // A running attempt carries the bus's own error list: it replaces what was pieced together.
    const before = m.errors ?? (row.errors === null ? [] : (JSON.parse(row.errors) as ErrorLine[]));
    const errors = withError(before, m);
    this.updateRun.run(
      state,
      m.attempt,
      errors.length === 0 ? null : JSON.stringify(errors),
      reasonOf(m) ?? row.reason,
      m.status === 'running' ? m.at : row.started_at,
      ended,
      found.id,
    );
    return { id: found.id, eventId: m.eventId };
  }

  /** Drops events stored before `before` (ms) and their runs. */
  prune(before: number): void {
    const kept = this.firstKept.get(before)?.seq;
    // Nothing stored since: everything goes.
    const below = kept ?? Number.MAX_SAFE_INTEGER;
    this.pruneRunIds.run(below);
    this.pruneRuns.run(below);
    this.pruneEvents.run(below);
  }

  /** Empties the file: the stream it was built from is gone (deleted and made again). */
  clear(): void {
    this.db.exec(`DELETE FROM history_runs; DELETE FROM deliveries; DELETE FROM events;`);
  }
}

type ErrorLine = NonNullable<HistoryMessage['errors']>[number];

/** The error list with this attempt's failure added (a retry's or a dead run's). */
function withError(errors: ErrorLine[], m: HistoryMessage): ErrorLine[] {
  if (m.error === undefined || (m.status !== 'retrying' && m.status !== 'dead')) return errors;
  return [...errors, { attempt: m.attempt, at: new Date(m.at).toISOString(), error: m.error }];
}

/** Why a run ended so, where the message says. */
function reasonOf(m: HistoryMessage): string | undefined {
  if (m.status === 'cancelled' || m.status === 'dead') return m.error;
  return undefined;
}

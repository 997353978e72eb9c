// Finding a stored event by its id alone. Ids are unique per source (events_source_id is the
// unique index on (source, id)); with no index on id by itself, this walks the few distinct
// sources through that same index — a skip scan, one seek per source — instead of scanning every
// event. Past MAX_SOURCES distinct sources (a producer minting a source per event) it falls back
// to the scan, which then costs no more than the walk would.
import type Database from 'better-sqlite3';

export interface EventRow {
  seq: number;
  stored_at: number;
  envelope: string;
}

const MAX_SOURCES = 1_000;

export class EventById {
  private readonly firstSource: Database.Statement<[], { source: string | null }>;
  private readonly nextSource: Database.Statement<[string], { source: string | null }>;
  private readonly bySourceAndId: Database.Statement<[string, string], EventRow>;
  private readonly scan: Database.Statement<[string], EventRow>;

  constructor(db: Database.Database) {
    // min() over the leading column of events_source_id: one seek each.
    this.firstSource = db.prepare(`SELECT min(source) AS source FROM events`);
    this.nextSource = db.prepare(`SELECT min(source) AS source FROM events WHERE source > ?`);
    this.bySourceAndId = db.prepare(
      `SELECT seq, stored_at, envelope FROM events WHERE source = ? AND id = ?`,
    );
    this.scan = db.prepare(`SELECT seq, stored_at, envelope FROM events WHERE id = ?`);
  }

  /** The newest event with this id (a clash of ids across sources is rare, and newest wins). */
  find(id: string): EventRow | undefined {
    let found: EventRow | undefined;
    for (const row of this.all(id)) if (found === undefined || row.seq > found.seq) found = row;
    return found;
  }

  /** Every stored event with this id, one per source at most. */
  all(id: string): EventRow[] {
    const rows: EventRow[] = [];
    let source = this.firstSource.get()?.source ?? null;
    for (let seen = 0; source !== null; seen++) {
      if (seen === MAX_SOURCES) return this.scan.all(id);
      const row = this.bySourceAndId.get(source, id);
      if (row !== undefined) rows.push(row);
      source = this.nextSource.get(source)?.source ?? null;
    }
    return rows;
  }
}

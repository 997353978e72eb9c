// The quarantine table and its statements. The table is created here rather than in schema.ts so
// that a store opened by an older agentd gains it on the first open by this one.
import type Database from 'better-sqlite3';

// Refused events, one row per (source, event_id), like events: a producer retrying a refused
// event (a webhook redelivery) finds its row and is told it is a duplicate. Rows are never swept by
// retention: they leave by replay (published, then deleted in the same transaction) or purge.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS quarantine (
  id INTEGER PRIMARY KEY,
  source TEXT NOT NULL,
  event_id TEXT NOT NULL,
  type TEXT NOT NULL,
  dataschema TEXT,
  issues TEXT NOT NULL,
  envelope TEXT NOT NULL,
  quarantined_at INTEGER NOT NULL,
  checked_at INTEGER NOT NULL,
  checks INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX IF NOT EXISTS quarantine_source_id ON quarantine(source, event_id);
CREATE INDEX IF NOT EXISTS quarantine_type ON quarantine(type, id);
`;

export interface QuarantineRow {
  id: number;
  dataschema: string | null;
  issues: string;
  envelope: string;
  quarantined_at: number;
  checked_at: number;
  checks: number;
}

export interface QuarantineStatements {
  /** False when (source, id) is already quarantined or already stored as a published event. */
  add(
    source: string,
    eventId: string,
    type: string,
    dataschema: string | null,
    issues: string,
    envelope: string,
    now: number,
  ): boolean;
  recheck(id: number, dataschema: string | null, issues: string, now: number): void;
  list(type: string | null, limit: number): QuarantineRow[];
  show(id: number): QuarantineRow | undefined;
  remove(id: number): boolean;
  removeAll(): number;
  count(): number;
}

export function quarantineStatements(db: Database.Database): QuarantineStatements {
  db.exec(SCHEMA);
  // Dedup across both tables: an event already published under this (source, id) is a duplicate,
  // not a new refusal, whatever its data says now.
  const published = db
    .prepare<[string, string], number>(`SELECT 1 FROM events WHERE source = ? AND id = ?`)
    .pluck();
  const insert = db.prepare<
    [string, string, string, string | null, string, string, number, number]
  >(
    `INSERT INTO quarantine (source, event_id, type, dataschema, issues, envelope, quarantined_at, checked_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source, event_id) DO NOTHING`,
  );
  const recheck = db.prepare<[string | null, string, number, number]>(
    `UPDATE quarantine SET dataschema = ?, issues = ?, checked_at = ?, checks = checks + 1
      WHERE id = ?`,
  );
  const columns = `id, dataschema, issues, envelope, quarantined_at, checked_at, checks`;
  const list = db.prepare<[string | null, string | null, number], QuarantineRow>(
    `SELECT ${columns} FROM quarantine WHERE (? IS NULL OR type = ?) ORDER BY id DESC LIMIT ?`,
  );
  const show = db.prepare<[number], QuarantineRow>(
    `SELECT ${columns} FROM quarantine WHERE id = ?`,
  );
  const remove = db.prepare<[number]>(`DELETE FROM quarantine WHERE id = ?`);
  const removeAll = db.prepare<[]>(`DELETE FROM quarantine`);
  const count = db.prepare<[], number>(`SELECT count(*) FROM quarantine`).pluck();

  return {
    add(source, eventId, type, dataschema, issues, envelope, now) {
      if (published.get(source, eventId) !== undefined) return false;
      return insert.run(source, eventId, type, dataschema, issues, envelope, now, now).changes > 0;
    },
    recheck: (id, dataschema, issues, now) => void recheck.run(dataschema, issues, now, id),
    list: (type, limit) => list.all(type, type, limit),
    show: (id) => show.get(id),
    remove: (id) => remove.run(id).changes > 0,
    removeAll: () => removeAll.run().changes,
    count: () => count.get() as number,
  };
}

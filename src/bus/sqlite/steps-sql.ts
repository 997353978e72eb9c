// Step memos: the first recorded result of a step wins, so two attempts racing on one event (a
// lease that expired under a slow worker) still agree on every step's result.
import type Database from 'better-sqlite3';

export interface StepStatements {
  load(sub: string, seq: number): Map<string, unknown>;
  /** Stores the value unless one exists; returns the value that is stored now. */
  save(sub: string, seq: number, name: string, json: string, now: number): unknown;
}

export function stepStatements(db: Database.Database): StepStatements {
  const load = db.prepare<[string, number], { name: string; value: string }>(
    `SELECT name, value FROM steps WHERE sub = ? AND seq = ?`,
  );
  const insert = db.prepare<[string, number, string, string, number]>(
    `INSERT INTO steps (sub, seq, name, value, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
  );
  const get = db.prepare<[string, number, string], { value: string }>(
    `SELECT value FROM steps WHERE sub = ? AND seq = ? AND name = ?`,
  );
  const unwrap = (json: string): unknown => (JSON.parse(json) as { v?: unknown }).v;

  return {
    load(sub, seq) {
      return new Map(load.all(sub, seq).map((row) => [row.name, unwrap(row.value)]));
    },
    save(sub, seq, name, json, now) {
      if (insert.run(sub, seq, name, json, now).changes === 1) return unwrap(json);
      const stored = get.get(sub, seq, name);
      return stored === undefined ? unwrap(json) : unwrap(stored.value);
    },
  };
}

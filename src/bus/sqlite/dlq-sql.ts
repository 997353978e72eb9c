// The dead-letter queue: deliveries in state 'dead' with their reason and whole error history.
import type Database from 'better-sqlite3';

export interface DeadRow {
  id: number;
  sub: string;
  seq: number;
  pkey: string | null;
  attempt: number;
  reason: string | null;
  errors: string | null;
  finished_at: number;
  envelope: string;
}

export interface DlqStatements {
  list(sub: string | null, type: string | null, limit: number): DeadRow[];
  show(id: number): DeadRow | undefined;
  /** Re-enqueues a dead delivery as a new one behind its key; the old row becomes 'replayed'. */
  replay(id: number, now: number, fresh: boolean): boolean;
  purge(id: number): boolean;
  purgeAll(): number;
  count(sub: string): number;
}

/** Makes the new delivery of a replayed dead letter: behind its key, and batched or fair like new. */
export type Requeue = (row: DeadRow, now: number) => void;

export function dlqStatements(db: Database.Database, requeue: Requeue): DlqStatements {
  const columns = `d.id, d.sub, d.seq, d.pkey, d.attempt, d.reason, d.errors, d.finished_at, e.envelope`;
  const list = db.prepare<
    [string | null, string | null, string | null, string | null, number],
    DeadRow
  >(
    `SELECT ${columns} FROM deliveries d JOIN events e ON e.seq = d.seq
      WHERE d.state = 'dead' AND (? IS NULL OR d.sub = ?) AND (? IS NULL OR e.type = ?)
      ORDER BY d.id DESC LIMIT ?`,
  );
  const show = db.prepare<[number], DeadRow>(
    `SELECT ${columns} FROM deliveries d JOIN events e ON e.seq = d.seq
      WHERE d.id = ? AND d.state = 'dead'`,
  );
  const markReplayed = db.prepare<[number]>(
    `UPDATE deliveries SET state = 'replayed' WHERE id = ? AND state = 'dead'`,
  );
  const clearSteps = db.prepare<[string, number]>(`DELETE FROM steps WHERE sub = ? AND seq = ?`);
  // Steps go with the last delivery that could still use them.
  const dropOrphanSteps = db.prepare<[string, number, string, number]>(
    `DELETE FROM steps WHERE sub = ? AND seq = ?
       AND NOT EXISTS (SELECT 1 FROM deliveries WHERE sub = ? AND seq = ?)`,
  );
  const purge = db.prepare<[number], { sub: string; seq: number }>(
    `DELETE FROM deliveries WHERE id = ? AND state = 'dead' RETURNING sub, seq`,
  );
  const count = db.prepare<[string], { n: number }>(
    `SELECT count(*) AS n FROM deliveries WHERE sub = ? AND state = 'dead'`,
  );

  const purgeOne = (id: number): boolean => {
    const row = purge.get(id);
    if (row === undefined) return false;
    dropOrphanSteps.run(row.sub, row.seq, row.sub, row.seq);
    return true;
  };

  return {
    list: (sub, type, limit) => list.all(sub, sub, type, type, limit),
    show: (id) => show.get(id),
    replay(id, now, fresh) {
      const row = show.get(id);
      if (row === undefined || markReplayed.run(id).changes === 0) return false;
      if (fresh) clearSteps.run(row.sub, row.seq);
      requeue(row, now);
      return true;
    },
    purge: purgeOne,
    purgeAll() {
      const ids = db
        .prepare<[], { id: number }>(`SELECT id FROM deliveries WHERE state = 'dead'`)
        .all();
      return ids.filter((row) => purgeOne(row.id)).length;
    },
    count: (sub) => count.get(sub)?.n ?? 0,
  };
}

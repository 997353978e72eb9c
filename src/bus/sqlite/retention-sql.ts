// Retention: finished history older than the cutoff is deleted in small batches. Events with an
// unfinished or dead delivery are kept whatever their age; dedup on (source, id) lasts as long as
// the event is kept.
import type Database from 'better-sqlite3';

export interface RetentionStatements {
  /** Deletes up to `limit` expired events with their deliveries and steps; returns how many. */
  sweep(cutoff: number, limit: number): number;
}

export function retentionStatements(db: Database.Database): RetentionStatements {
  const expired = db.prepare<[number, number, number], { seq: number }>(
    `SELECT e.seq FROM events e
      WHERE e.stored_at < ?
        AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.seq = e.seq
                         AND (d.state NOT IN ('acked', 'skipped', 'replayed', 'cancelled') OR d.finished_at >= ?))
      ORDER BY e.seq LIMIT ?`,
  );
  const dropEvent = db.prepare<[number]>(`DELETE FROM events WHERE seq = ?`);
  const dropDeliveries = db.prepare<[number]>(`DELETE FROM deliveries WHERE seq = ?`);
  const dropSteps = db.prepare<[number]>(`DELETE FROM steps WHERE seq = ?`);

  return {
    sweep(cutoff, limit) {
      const rows = expired.all(cutoff, cutoff, limit);
      for (const { seq } of rows) {
        dropDeliveries.run(seq);
        dropSteps.run(seq);
        dropEvent.run(seq);
      }
      return rows.length;
    },
  };
}

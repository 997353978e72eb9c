// Fairness by start-time fair queuing, per subscription. Invariants:
//   - each delivery of a fair subscription gets, at enqueue, vt = max(last[key], clock) + 1/weight,
//     where last[key] (fair_keys) is the vt of the key's newest delivery and clock
//     (subscriptions.vt) the largest vt claimed so far; a delivery without a key is a key of its own;
//   - claims take the available ready rows in vt order (claim-sql.ts) and move clock up to the
//     largest vt they took, never down (a retry keeps its old, smaller vt).
// So a key with 1,000 queued deliveries holds vts clock+1..clock+1000, and a key that arrives now
// gets clock+1: it is served within the first claims, and keys are served in turn, each in
// proportion to its weight. A fair_keys row whose vt the clock has reached adds nothing (max()
// picks the clock) and is deleted; that keeps the table as small as the keys with queued work.
import type Database from 'better-sqlite3';

export interface FairStatements {
  /** The virtual time of a new delivery of `key` (null: no key); records it as the key's last. */
  assign(sub: string, key: string | null, weight: number): number;
  /** After a claim: the clock moves to `vt` (if later), and keys it has caught up with are dropped. */
  claimed(sub: string, vt: number, keys: readonly string[]): void;
  /** Gives a virtual time to queued rows that lack one (the subscription just became fair). */
  adopt(sub: string): void;
  /** Drops every fair_keys row the clock has passed (retention sweep). */
  sweep(): void;
}

export function fairStatements(db: Database.Database): FairStatements {
  const clock = db.prepare<[string], { vt: number }>(`SELECT vt FROM subscriptions WHERE name = ?`);
  const last = db.prepare<[string, string], { vt: number }>(
    `SELECT vt FROM fair_keys WHERE sub = ? AND rkey = ?`,
  );
  const record = db.prepare<[string, string, number]>(
    `INSERT INTO fair_keys (sub, rkey, vt) VALUES (?, ?, ?)
     ON CONFLICT (sub, rkey) DO UPDATE SET vt = excluded.vt`,
  );
  const advance = db.prepare<[number, string]>(
    `UPDATE subscriptions SET vt = max(vt, ?) WHERE name = ?`,
  );
  const caughtUp = db.prepare<[string, string, string]>(
    `DELETE FROM fair_keys WHERE sub = ? AND rkey = ?
       AND vt <= (SELECT vt FROM subscriptions WHERE name = ?)`,
  );
  // Queued rows from before fairness was switched on go first, at the current clock, in id order.
  // One statement per state, so each walks its own partial index rather than the whole table.
  const adopt = (['ready', 'waiting'] as const).map((state) =>
    db.prepare<[string, string]>(
      `UPDATE deliveries SET vt = (SELECT vt FROM subscriptions WHERE name = ?)
        WHERE sub = ? AND state = '${state}' AND vt IS NULL`,
    ),
  );
  const sweep = db.prepare(
    `DELETE FROM fair_keys
      WHERE vt <= coalesce((SELECT s.vt FROM subscriptions s WHERE s.name = fair_keys.sub), vt)`,
  );

  return {
    assign(sub, key, weight) {
      const now = clock.get(sub)?.vt ?? 0;
      const previous = key === null ? undefined : last.get(sub, key)?.vt;
      const vt = Math.max(previous ?? 0, now) + 1 / weight;
      if (key !== null) record.run(sub, key, vt);
      return vt;
    },
    claimed(sub, vt, keys) {
      advance.run(vt, sub);
      for (const key of keys) caughtUp.run(sub, key, sub);
    },
    adopt(sub) {
      for (const statement of adopt) statement.run(sub, sub);
    },
    sweep() {
      sweep.run();
    },
  };
}

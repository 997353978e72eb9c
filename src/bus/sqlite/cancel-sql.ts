// Ending deliveries before they run (singleton, cancelOn, debounce) and asking running ones to stop.
// Invariants:
//   - a delivery nobody holds (waiting, ready, parked) ends at once, as 'cancelled' or 'skipped'
//     with its reason; its batch members end with it, a parked one's wait goes, and when it was the
//     head of its partition key the key moves on to the next waiting delivery;
//   - a leased delivery is never ended under its holder: its reason is set (claims clear it, so a
//     leased row has one only while asked to stop), the holder's extend and settle calls see it,
//     and its lease can then only end as 'cancelled' (settle-sql.ts).
import type Database from 'better-sqlite3';
import type { BatchStatements } from './batch-sql.js';
import type { KeyOrder } from './key-order-sql.js';

export interface OpenDelivery {
  id: number;
  pkey: string | null;
  state: 'waiting' | 'ready' | 'leased' | 'parked' | 'batched';
  attempt: number;
  batch: number | null;
  created_at: number;
}

export interface CancelRequest {
  id: number;
  sub: string;
  reason: string;
}

export interface CancelStatements {
  /** True when (sub, route key) has an unfinished delivery. */
  keyBusy(sub: string, rkey: string): boolean;
  /** The key's newest unfinished delivery. */
  newestOfKey(sub: string, rkey: string): OpenDelivery | undefined;
  /** Ends a delivery nobody holds, as described above. */
  endQueued(
    sub: string,
    row: OpenDelivery,
    state: 'cancelled' | 'skipped',
    reason: string,
    now: number,
  ): void;
  /**
   * Cancels every unfinished delivery of the key: queued ones end, leased ones are asked to stop.
   * Returns how many leased ones were newly asked.
   */
  cancelKey(sub: string, rkey: string, reason: string, now: number): number;
  /** Why the lease (id, attempt) was asked to stop, if it was. */
  requested(id: number, attempt: number): string | undefined;
  /** Every leased delivery asked to stop (few: it ends when its holder next settles or extends). */
  pending(): CancelRequest[];
}

export function cancelStatements(
  db: Database.Database,
  keys: KeyOrder,
  batches: BatchStatements,
): CancelStatements {
  // deliveries_keyed (sub, rkey, id) WHERE rkey IS NOT NULL: only unfinished rows keep an rkey;
  // the state test is belt and braces.
  const unfinished = `state IN ('waiting', 'ready', 'leased', 'parked', 'batched')`;
  const columns = `id, pkey, state, attempt, batch, created_at`;
  const busy = db.prepare<[string, string], { n: number }>(
    `SELECT 1 AS n FROM deliveries WHERE sub = ? AND rkey = ? AND ${unfinished} LIMIT 1`,
  );
  const newest = db.prepare<[string, string], OpenDelivery>(
    `SELECT ${columns} FROM deliveries WHERE sub = ? AND rkey = ? AND ${unfinished}
      ORDER BY id DESC LIMIT 1`,
  );
  const newestFirst = db.prepare<[string, string], OpenDelivery>(
    `SELECT ${columns} FROM deliveries WHERE sub = ? AND rkey = ? AND ${unfinished}
      ORDER BY id DESC`,
  );
  const end = db.prepare<[string, string, number, number]>(
    `UPDATE deliveries SET state = ?, reason = ?, finished_at = ?, rkey = NULL
      WHERE id = ? AND state IN ('waiting', 'ready', 'parked')`,
  );
  const dropWait = db.prepare<[number]>(`DELETE FROM waits WHERE delivery = ?`);
  const request = db.prepare<[string, number]>(
    `UPDATE deliveries SET reason = ? WHERE id = ? AND state = 'leased' AND reason IS NULL`,
  );
  const requested = db.prepare<[number, number], { reason: string }>(
    `SELECT reason FROM deliveries
      WHERE id = ? AND attempt = ? AND state = 'leased' AND reason IS NOT NULL`,
  );
  // Walks the leased rows (deliveries_leased): as many as runs in flight. An index of its own
  // would cost every claim and ack a check.
  const pending = db.prepare<[], CancelRequest>(
    `SELECT id, sub, reason FROM deliveries WHERE state = 'leased' AND reason IS NOT NULL`,
  );

  const endQueued: CancelStatements['endQueued'] = (sub, row, state, reason, now) => {
    if (end.run(state, reason, now, row.id).changes === 0) return;
    batches.end(row.id, state, reason, now);
    if (row.state === 'parked') dropWait.run(row.id);
    // Only a head is ever ready or parked on a keyed subscription; a waiting row holds nothing.
    if (row.pkey !== null && row.state !== 'waiting') keys.advance(sub, row.pkey, now);
  };

  return {
    keyBusy: (sub, rkey) => busy.get(sub, rkey) !== undefined,
    newestOfKey: (sub, rkey) => newest.get(sub, rkey),
    endQueued,
    cancelKey(sub, rkey, reason, now) {
      let asked = 0;
      // Newest first: the head, if queued, goes last, so advancing its key finds nothing left to
      // promote and frees it (or leaves it to a leased head, which keeps it until it settles).
      for (const row of newestFirst.all(sub, rkey)) {
        if (row.state === 'batched') continue;
        if (row.state === 'leased') asked += request.run(reason, row.id).changes;
        else endQueued(sub, row, 'cancelled', reason, now);
      }
      return asked;
    },
    requested: (id, attempt) => requested.get(id, attempt)?.reason,
    pending: () => pending.all(),
  };
}

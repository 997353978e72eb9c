// Per-key order. Invariant: for each (subscription, partition key) only the head, the oldest
// unfinished delivery, may be 'ready' or 'leased'; every younger one is 'waiting'. A row in
// key_heads exists exactly while the key has an unfinished delivery.
import type Database from 'better-sqlite3';

/** A delivery of a governed subscription (fanout-sql.ts), with the columns plain ones leave null. */
export interface GovernedDelivery {
  sub: string;
  seq: number;
  pkey: string | null;
  rkey: string | null;
  availableAt: number;
  vt: number | null;
}

export interface KeyOrder {
  /** Inserts a delivery; returns its id. Keyed deliveries start 'waiting' unless they are the head. */
  enqueue(sub: string, seq: number, pkey: string | null, availableAt: number, now: number): number;
  /** enqueue for many events without a key, in one statement: ready deliveries in `seqs` order. */
  enqueueUnkeyed(sub: string, seqs: readonly number[], availableAt: number, now: number): void;
  /** enqueue for a governed subscription's delivery. */
  enqueueGoverned(row: GovernedDelivery, now: number): number;
  /** Called when the head finishes (acked, skipped, dead): the next waiting one becomes ready. */
  advance(sub: string, pkey: string, now: number): void;
}

export function keyOrderStatements(db: Database.Database): KeyOrder {
  const insertDelivery = db.prepare<[string, number, string | null, string, number, number]>(
    `INSERT INTO deliveries (sub, seq, pkey, state, available_at, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
  );
  const insertUnkeyed = db.prepare<[string, number, number, string]>(
    `INSERT INTO deliveries (sub, seq, pkey, state, available_at, created_at)
     SELECT ?, value, NULL, 'ready', ?, ? FROM json_each(?) ORDER BY key`,
  );
  const insertGoverned = db.prepare<
    [string, number, string | null, string | null, string, number, number, number | null]
  >(
    `INSERT INTO deliveries (sub, seq, pkey, rkey, state, available_at, created_at, vt)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  // The key is free when no row exists; taking it makes this delivery the head.
  const takeHead = db.prepare<[string, string, number]>(
    `INSERT INTO key_heads (sub, pkey, head) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
  );
  const markReady = db.prepare<[number]>(`UPDATE deliveries SET state = 'ready' WHERE id = ?`);
  // The next head is the oldest waiting delivery of the key (publish order = id order).
  const nextWaiting = db.prepare<[string, string], { id: number }>(
    `SELECT id FROM deliveries WHERE sub = ? AND pkey = ? AND state = 'waiting' ORDER BY id LIMIT 1`,
  );
  // A waiting delivery that was published with a delay keeps its delay when it becomes head.
  const promote = db.prepare<[number, number]>(
    `UPDATE deliveries SET state = 'ready', available_at = max(available_at, ?) WHERE id = ?`,
  );
  const moveHead = db.prepare<[number, string, string]>(
    `UPDATE key_heads SET head = ? WHERE sub = ? AND pkey = ?`,
  );
  const releaseKey = db.prepare<[string, string]>(
    `DELETE FROM key_heads WHERE sub = ? AND pkey = ?`,
  );

  const takeHeadIfFree = (sub: string, pkey: string | null, id: number): void => {
    if (pkey !== null && takeHead.run(sub, pkey, id).changes === 1) markReady.run(id);
  };

  return {
    enqueue(sub, seq, pkey, availableAt, now) {
      const state = pkey === null ? 'ready' : 'waiting';
      const id = Number(
        insertDelivery.run(sub, seq, pkey, state, availableAt, now).lastInsertRowid,
      );
      takeHeadIfFree(sub, pkey, id);
      return id;
    },
    enqueueUnkeyed(sub, seqs, availableAt, now) {
      insertUnkeyed.run(sub, availableAt, now, JSON.stringify(seqs));
    },
    enqueueGoverned(row, now) {
      const state = row.pkey === null ? 'ready' : 'waiting';
      const id = Number(
        insertGoverned.run(
          row.sub,
          row.seq,
          row.pkey,
          row.rkey,
          state,
          row.availableAt,
          now,
          row.vt,
        ).lastInsertRowid,
      );
      takeHeadIfFree(row.sub, row.pkey, id);
      return id;
    },
    advance(sub, pkey, now) {
      const next = nextWaiting.get(sub, pkey);
      if (next === undefined) {
        releaseKey.run(sub, pkey);
        return;
      }
      promote.run(now, next.id);
      moveHead.run(next.id, sub, pkey);
    },
  };
}

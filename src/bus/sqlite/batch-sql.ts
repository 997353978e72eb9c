// Batching: deliveries of one (subscription, group) are claimed together. Invariants:
//   - a batch is its leader (the row that opened it: an ordinary delivery, keyed and claimed like
//     any other) plus members, rows in state 'batched' whose `batch` is the leader's id;
//   - open_batches names, per group, the one batch new rows may join: only while its leader has
//     never been claimed (state waiting or ready, started_at null) and it holds < maxSize rows;
//   - the leader is available maxWaitMs after it was made, or at once when its batch is full;
//   - members never change state on their own: they take the leader's terminal state (acked,
//     skipped, cancelled, dead) in the transaction that settles it, and are otherwise untouched by
//     retries, releases, deferrals and parks, which move the leader alone;
//   - a member that finishes loses its batch (and route key) column: deliveries_batch holds
//     exactly the unfinished members.
import type Database from 'better-sqlite3';

export interface BatchMember {
  id: number;
  seq: number;
  envelope: string;
}

export interface NewMember {
  sub: string;
  group: string;
  leader: number;
  seq: number;
  pkey: string | null;
  rkey: string | null;
  availableAt: number;
}

export interface BatchStatements {
  /** The open batch of (sub, group): its leader id, or undefined when a new row must lead one. */
  openLeader(sub: string, group: string): number | undefined;
  /** Records `leader` as the open batch of its group (it holds one row so far). */
  open(sub: string, group: string, leader: number): void;
  /** Adds a member; the batch closes and its leader becomes available once it has `maxSize`. */
  join(member: NewMember, maxSize: number, now: number): void;
  /** The members of a claimed batch, in publish order. */
  members(leader: number): BatchMember[];
  /** Members take their leader's terminal state. */
  end(
    leader: number,
    state: 'acked' | 'skipped' | 'cancelled',
    reason: string | null,
    now: number,
  ): void;
  /** Members are dead-lettered with their leader's attempts, errors and reason. */
  dead(leader: number, reason: string, now: number): { id: number; seq: number }[];
  /**
   * The subscription no longer batches: its members become deliveries of their own, behind
   * their key like any other (their leader, unfinished, still holds it or waits for it).
   */
  dissolve(sub: string, now: number): void;
}

export function batchStatements(db: Database.Database): BatchStatements {
  const openLeader = db.prepare<[string, string], { leader: number }>(
    `SELECT b.leader FROM open_batches b JOIN deliveries d ON d.id = b.leader
      WHERE b.sub = ? AND b.gkey = ? AND d.state IN ('waiting', 'ready') AND d.started_at IS NULL`,
  );
  const open = db.prepare<[string, string, number]>(
    `INSERT INTO open_batches (sub, gkey, leader, size) VALUES (?, ?, ?, 1)
     ON CONFLICT (sub, gkey) DO UPDATE SET leader = excluded.leader, size = 1`,
  );
  const insertMember = db.prepare<
    [string, number, string | null, string | null, number, number, number]
  >(
    `INSERT INTO deliveries (sub, seq, pkey, rkey, state, available_at, created_at, batch)
     VALUES (?, ?, ?, ?, 'batched', ?, ?, ?)`,
  );
  const grow = db.prepare<[string, string], { size: number }>(
    `UPDATE open_batches SET size = size + 1 WHERE sub = ? AND gkey = ? RETURNING size`,
  );
  const close = db.prepare<[string, string]>(`DELETE FROM open_batches WHERE sub = ? AND gkey = ?`);
  const availableBy = db.prepare<[number, number]>(
    `UPDATE deliveries SET available_at = min(available_at, ?) WHERE id = ?`,
  );
  const members = db.prepare<[number], BatchMember>(
    `SELECT d.id, d.seq, e.envelope FROM deliveries d JOIN events e ON e.seq = d.seq
      WHERE d.batch = ? AND d.state = 'batched' ORDER BY d.seq`,
  );
  const end = db.prepare<[string, string | null, number, number]>(
    `UPDATE deliveries SET state = ?, reason = ?, finished_at = ?, batch = NULL, rkey = NULL
      WHERE batch = ? AND state = 'batched'`,
  );
  const dead = db.prepare<[string, number, number, number, number], { id: number; seq: number }>(
    `UPDATE deliveries
        SET state = 'dead', reason = ?, finished_at = ?, batch = NULL, rkey = NULL,
            attempt = (SELECT l.attempt FROM deliveries l WHERE l.id = ?),
            errors = (SELECT l.errors FROM deliveries l WHERE l.id = ?)
      WHERE batch = ? AND state = 'batched'
      RETURNING id, seq`,
  );

  // Walks deliveries_batch: every unfinished member (of any subscription; this is rare).
  const dissolve = db.prepare<[string]>(
    `UPDATE deliveries SET state = CASE WHEN pkey IS NULL THEN 'ready' ELSE 'waiting' END, batch = NULL
      WHERE batch IS NOT NULL AND sub = ? AND state = 'batched'`,
  );
  // An open batch's leader waited for company that will not come now.
  const unwait = db.prepare<[number, string]>(
    `UPDATE deliveries SET available_at = min(available_at, ?)
      WHERE id IN (SELECT leader FROM open_batches WHERE sub = ?) AND state IN ('waiting', 'ready')`,
  );
  const forget = db.prepare<[string]>(`DELETE FROM open_batches WHERE sub = ?`);

  return {
    openLeader: (sub, group) => openLeader.get(sub, group)?.leader,
    open(sub, group, leader) {
      open.run(sub, group, leader);
    },
    join(member, maxSize, now) {
      insertMember.run(
        member.sub,
        member.seq,
        member.pkey,
        member.rkey,
        member.availableAt,
        now,
        member.leader,
      );
      const size = grow.get(member.sub, member.group)?.size ?? maxSize;
      if (size < maxSize) return;
      close.run(member.sub, member.group);
      availableBy.run(member.availableAt, member.leader);
    },
    members: (leader) => members.all(leader),
    end(leader, state, reason, now) {
      end.run(state, reason, now, leader);
    },
    dead: (leader, reason, now) => dead.all(reason, now, leader, leader, leader),
    dissolve(sub, now) {
      dissolve.run(sub);
      unwait.run(now, sub);
      forget.run(sub);
    },
  };
}

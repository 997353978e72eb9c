// Settling a lease: ack, retry later, dead-letter, extend, release, defer, cancel. Every statement
// matches on (id, attempt, state = 'leased'): a lease that has moved on cannot be settled by its
// old holder. A lease asked to stop (its reason set, cancel-sql.ts) only ends through `cancel`:
// the others do not match it, and the caller then finds the request (CancelStatements.requested).
// A row that finishes loses its route key (rkey) and so leaves deliveries_keyed; plain rows have
// none, and their ack leaves the column alone, which keeps that index out of the hot path.
import type Database from 'better-sqlite3';

export interface SettledRow {
  sub: string;
  seq: number;
  pkey: string | null;
}

export type ExtendOutcome = 'extended' | 'lost' | { cancelled: string };

/** One lease to finish in finishMany. */
export interface FinishRequest {
  id: number;
  attempt: number;
  state: 'acked' | 'skipped';
}

export interface SettleStatements {
  /** `keyed`: the row has a route key to clear (a governed subscription's). */
  finish(
    id: number,
    attempt: number,
    state: 'acked' | 'skipped',
    now: number,
    keyed: boolean,
  ): SettledRow | undefined;
  /** finish for many leases in one statement; returns how many it finished. */
  finishMany(requests: readonly FinishRequest[], now: number, keyed: boolean): number;
  retry(id: number, attempt: number, availableAt: number, errorJson: string): boolean;
  dead(
    id: number,
    attempt: number,
    reason: string,
    errorJson: string | null,
    now: number,
  ): SettledRow | undefined;
  extend(id: number, attempt: number, leaseUntil: number): ExtendOutcome;
  release(id: number, attempt: number, now: number): boolean;
  defer(id: number, attempt: number, availableAt: number, reason: string): boolean;
  cancel(id: number, attempt: number, reason: string, now: number): SettledRow | undefined;
}

export function settleStatements(db: Database.Database): SettleStatements {
  const lease = `id = ? AND attempt = ? AND state = 'leased'`;
  // A leased row has a reason only while it is asked to stop (claims clear it).
  const held = `${lease} AND reason IS NULL`;
  const finish = db.prepare<[string, number, number, number], SettledRow>(
    `UPDATE deliveries SET state = ?, finished_at = ?, lease_until = NULL
      WHERE ${held}
      RETURNING sub, seq, pkey`,
  );
  const finishKeyed = db.prepare<[string, number, number, number], SettledRow>(
    `UPDATE deliveries SET state = ?, finished_at = ?, lease_until = NULL, rkey = NULL
      WHERE ${held}
      RETURNING sub, seq, pkey`,
  );
  // finish, with the leases as a JSON array of [id, attempt, state]: each is found by its id. No
  // RETURNING, which would cost a third of the statement: the caller knows each row's key.
  const finishMany = (clearRkey: string) =>
    db.prepare<[number, string]>(
      `UPDATE deliveries SET state = j.state, finished_at = ?, lease_until = NULL${clearRkey}
         FROM (SELECT value ->> 0 AS id, value ->> 1 AS attempt, value ->> 2 AS state
                 FROM json_each(?)) AS j
        WHERE deliveries.id = j.id AND deliveries.attempt = j.attempt
          AND deliveries.state = 'leased' AND deliveries.reason IS NULL`,
    );
  const finishManyPlain = finishMany('');
  const finishManyKeyed = finishMany(', rkey = NULL');
  // A retried keyed delivery stays the head of its key: younger ones keep waiting (strict order).
  const retry = db.prepare<[number, string, number, number]>(
    `UPDATE deliveries
        SET state = 'ready', available_at = ?, lease_until = NULL,
            errors = json_insert(coalesce(errors, '[]'), '$[#]', json(?))
      WHERE ${held}`,
  );
  const dead = db.prepare<
    [number, string, string | null, string | null, number, number],
    SettledRow
  >(
    `UPDATE deliveries
        SET state = 'dead', finished_at = ?, reason = ?, lease_until = NULL, rkey = NULL,
            errors = CASE WHEN ? IS NULL THEN errors
                          ELSE json_insert(coalesce(errors, '[]'), '$[#]', json(?)) END
      WHERE ${held}
      RETURNING sub, seq, pkey`,
  );
  // A lease asked to stop is still extended: its holder needs the time to wind down and cancel.
  const extend = db.prepare<[number, number, number], { reason: string | null }>(
    `UPDATE deliveries SET lease_until = ? WHERE ${lease} RETURNING reason`,
  );
  // Handing a delivery back on shutdown does not spend an attempt.
  const release = db.prepare<[number, number, number]>(
    `UPDATE deliveries SET state = 'ready', available_at = ?, attempt = attempt - 1, lease_until = NULL
      WHERE ${held}`,
  );
  // Admission said "not now": like release, with the reason kept while it waits (claims clear it).
  const defer = db.prepare<[number, string, number, number]>(
    `UPDATE deliveries
        SET state = 'ready', available_at = ?, reason = ?, attempt = attempt - 1, lease_until = NULL
      WHERE ${held}`,
  );
  const cancel = db.prepare<[string, number, number, number], SettledRow>(
    `UPDATE deliveries
        SET state = 'cancelled', reason = ?, finished_at = ?, lease_until = NULL, rkey = NULL
      WHERE ${lease}
      RETURNING sub, seq, pkey`,
  );

  return {
    finish: (id, attempt, state, now, keyed) =>
      (keyed ? finishKeyed : finish).get(state, now, id, attempt),
    finishMany: (requests, now, keyed) =>
      (keyed ? finishManyKeyed : finishManyPlain).run(
        now,
        JSON.stringify(requests.map((r) => [r.id, r.attempt, r.state])),
      ).changes,
    retry: (id, attempt, availableAt, errorJson) =>
      retry.run(availableAt, errorJson, id, attempt).changes === 1,
    dead: (id, attempt, reason, errorJson, now) =>
      dead.get(now, reason, errorJson, errorJson, id, attempt),
    extend(id, attempt, leaseUntil) {
      const row = extend.get(leaseUntil, id, attempt);
      if (row === undefined) return 'lost';
      return row.reason === null ? 'extended' : { cancelled: row.reason };
    },
    release: (id, attempt, now) => release.run(now, id, attempt).changes === 1,
    defer: (id, attempt, availableAt, reason) =>
      defer.run(availableAt, reason, id, attempt).changes === 1,
    cancel: (id, attempt, reason, now) => cancel.get(reason, now, id, attempt),
  };
}

// Settling a lease: ack, retry later, dead-letter, extend, release. Every statement matches on
// (id, attempt, state = 'leased'): a lease that has moved on cannot be settled by its old holder.
import type Database from 'better-sqlite3';

export interface SettledRow {
  sub: string;
  seq: number;
  pkey: string | null;
}

export interface SettleStatements {
  finish(
    id: number,
    attempt: number,
    state: 'acked' | 'skipped',
    now: number,
  ): SettledRow | undefined;
  retry(id: number, attempt: number, availableAt: number, errorJson: string): boolean;
  dead(
    id: number,
    attempt: number,
    reason: string,
    errorJson: string | null,
    now: number,
  ): SettledRow | undefined;
  extend(id: number, attempt: number, leaseUntil: number): boolean;
  release(id: number, attempt: number, now: number): boolean;
}

export function settleStatements(db: Database.Database): SettleStatements {
  const finish = db.prepare<[string, number, number, number], SettledRow>(
    `UPDATE deliveries SET state = ?, finished_at = ?, lease_until = NULL
      WHERE id = ? AND attempt = ? AND state = 'leased'
      RETURNING sub, seq, pkey`,
  );
  // A retried keyed delivery stays the head of its key: younger ones keep waiting (strict order).
  const retry = db.prepare<[number, string, number, number]>(
    `UPDATE deliveries
        SET state = 'ready', available_at = ?, lease_until = NULL,
            errors = json_insert(coalesce(errors, '[]'), '$[#]', json(?))
      WHERE id = ? AND attempt = ? AND state = 'leased'`,
  );
  const dead = db.prepare<
    [number, string, string | null, string | null, number, number],
    SettledRow
  >(
    `UPDATE deliveries
        SET state = 'dead', finished_at = ?, reason = ?, lease_until = NULL,
            errors = CASE WHEN ? IS NULL THEN errors
                          ELSE json_insert(coalesce(errors, '[]'), '$[#]', json(?)) END
      WHERE id = ? AND attempt = ? AND state = 'leased'
      RETURNING sub, seq, pkey`,
  );
  const extend = db.prepare<[number, number, number]>(
    `UPDATE deliveries SET lease_until = ? WHERE id = ? AND attempt = ? AND state = 'leased'`,
  );
  // Handing a delivery back on shutdown does not spend an attempt.
  const release = db.prepare<[number, number, number]>(
    `UPDATE deliveries SET state = 'ready', available_at = ?, attempt = attempt - 1, lease_until = NULL
      WHERE id = ? AND attempt = ? AND state = 'leased'`,
  );

  return {
    finish: (id, attempt, state, now) => finish.get(state, now, id, attempt),
    retry: (id, attempt, availableAt, errorJson) =>
      retry.run(availableAt, errorJson, id, attempt).changes === 1,
    dead: (id, attempt, reason, errorJson, now) =>
      dead.get(now, reason, errorJson, errorJson, id, attempt),
    extend: (id, attempt, leaseUntil) => extend.run(leaseUntil, id, attempt).changes === 1,
    release: (id, attempt, now) => release.run(now, id, attempt).changes === 1,
  };
}

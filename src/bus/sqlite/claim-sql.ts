// Claiming: leases on ready deliveries, and the sweep that takes back leases nobody renewed.
import type Database from 'better-sqlite3';

export interface ClaimedRow {
  id: number;
  seq: number;
  attempt: number;
  available_at: number;
  /** When the delivery was made: its event's publish time. */
  created_at: number;
  errors: string | null;
  envelope: string;
}

export interface ExpiredLease {
  id: number;
  sub: string;
  seq: number;
  pkey: string | null;
  attempt: number;
}

export interface ClaimStatements {
  claim(sub: string, max: number, now: number, leaseUntil: number): ClaimedRow[];
  nextAvailableAt(sub: string): number | undefined;
  expiredLeases(now: number, limit: number): ExpiredLease[];
  nextLeaseExpiry(): number | undefined;
}

export function claimStatements(db: Database.Database): ClaimStatements {
  // Lease invariant: a claimed row is 'leased' with attempt + 1; (id, attempt) names the lease, so
  // a worker whose lease expired and was re-claimed can no longer settle it. Only heads are
  // 'ready', so claiming never puts two deliveries of one key in flight.
  const claim = db.prepare<[number, number, string, number, number], Omit<ClaimedRow, 'envelope'>>(
    `UPDATE deliveries
        SET state = 'leased', attempt = attempt + 1, lease_until = ?, started_at = ?
      WHERE id IN (SELECT id FROM deliveries
                    WHERE sub = ? AND state = 'ready' AND available_at <= ?
                    ORDER BY available_at, id LIMIT ?)
      RETURNING id, seq, attempt, available_at, created_at, errors`,
  );
  const envelope = db.prepare<[number], { envelope: string }>(
    `SELECT envelope FROM events WHERE seq = ?`,
  );
  const nextAvailable = db.prepare<[string], { at: number | null }>(
    `SELECT min(available_at) AS at FROM deliveries WHERE sub = ? AND state = 'ready'`,
  );
  const expired = db.prepare<[number, number], ExpiredLease>(
    `SELECT id, sub, seq, pkey, attempt FROM deliveries
      WHERE state = 'leased' AND lease_until < ? ORDER BY lease_until LIMIT ?`,
  );
  const nextExpiry = db.prepare<[], { at: number | null }>(
    `SELECT min(lease_until) AS at FROM deliveries WHERE state = 'leased'`,
  );

  return {
    claim(sub, max, now, leaseUntil) {
      const rows = claim.all(leaseUntil, now, sub, now, max);
      rows.sort((a, b) => a.available_at - b.available_at || a.id - b.id);
      return rows.map((row) => {
        const found = envelope.get(row.seq);
        if (found === undefined)
          throw new Error(`delivery ${row.id} points at missing event ${row.seq}`);
        return { ...row, envelope: found.envelope };
      });
    },
    nextAvailableAt(sub) {
      return nextAvailable.get(sub)?.at ?? undefined;
    },
    expiredLeases(now, limit) {
      return expired.all(now, limit);
    },
    nextLeaseExpiry() {
      return nextExpiry.get()?.at ?? undefined;
    },
  };
}

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
  pkey: string | null;
  rkey: string | null;
  /** Fair-queuing virtual time; null outside fair subscriptions. */
  vt: number | null;
  envelope: string;
}

export interface ExpiredLease {
  id: number;
  sub: string;
  seq: number;
  pkey: string | null;
  attempt: number;
  /** Why the bus asked the lease to stop, if it did (a leased row's reason, settle-sql.ts). */
  cancel_reason: string | null;
}

export interface ClaimStatements {
  claim(sub: string, max: number, now: number, leaseUntil: number): ClaimedRow[];
  /** claim in virtual-time order (fairness); rows without one follow in publish order. */
  claimFair(sub: string, max: number, now: number, leaseUntil: number): ClaimedRow[];
  nextAvailableAt(sub: string): number | undefined;
  /** The stored envelope (JSON) of event `seq`. */
  envelope(seq: number): string | undefined;
  expiredLeases(now: number, limit: number): ExpiredLease[];
  /** Leases taken before `at` (a restart's recovery: the fresh ones may be this worker's own). */
  leasedBefore(at: number): ExpiredLease[];
  nextLeaseExpiry(): number | undefined;
}

/** A claimed row as RETURNING gives it: envelope is null if its event is missing. */
type Row = Omit<ClaimedRow, 'envelope'> & { envelope: string | null };

export function claimStatements(db: Database.Database): ClaimStatements {
  // Lease invariant: a claimed row is 'leased' with attempt + 1; (id, attempt) names the lease, so
  // a worker whose lease expired and was re-claimed can no longer settle it. Only heads are
  // 'ready', so claiming never puts two deliveries of one key in flight. A deferral's reason is
  // cleared: it said why the row waited, and it waits no longer.
  const claimed = `SET state = 'leased', attempt = attempt + 1, lease_until = ?, started_at = ?,
                       reason = NULL`;
  // The envelope comes back with the lease: one statement per claim, not one more per row.
  const returning = `RETURNING id, seq, attempt, available_at, created_at, errors, pkey, rkey, vt,
                               (SELECT envelope FROM events WHERE events.seq = deliveries.seq)
                                 AS envelope`;
  const claim = db.prepare<[number, number, string, number, number], Row>(
    `UPDATE deliveries ${claimed}
      WHERE id IN (SELECT id FROM deliveries
                    WHERE sub = ? AND state = 'ready' AND available_at <= ?
                    ORDER BY available_at, id LIMIT ?)
      ${returning}`,
  );
  // Fairness invariant: among the ready rows available now, the smallest virtual times go first.
  // deliveries_fair walks them in vt order, stepping over rows not yet available, so a claim reads
  // O(log n + claimed + not yet available) entries; without statistics the planner would rather
  // take deliveries_ready and sort every ready row, hence INDEXED BY.
  const claimFair = db.prepare<[number, number, string, number, number], Row>(
    `UPDATE deliveries ${claimed}
      WHERE id IN (SELECT id FROM deliveries INDEXED BY deliveries_fair
                    WHERE sub = ? AND state = 'ready' AND vt IS NOT NULL AND available_at <= ?
                    ORDER BY vt, id LIMIT ?)
      ${returning}`,
  );
  const envelope = db.prepare<[number], { envelope: string }>(
    `SELECT envelope FROM events WHERE seq = ?`,
  );
  const nextAvailable = db.prepare<[string], { at: number | null }>(
    `SELECT min(available_at) AS at FROM deliveries WHERE sub = ? AND state = 'ready'`,
  );
  const expired = db.prepare<[number, number], ExpiredLease>(
    `SELECT id, sub, seq, pkey, attempt, reason AS cancel_reason FROM deliveries
      WHERE state = 'leased' AND lease_until < ? ORDER BY lease_until LIMIT ?`,
  );
  const leasedBefore = db.prepare<[number], ExpiredLease>(
    `SELECT id, sub, seq, pkey, attempt, reason AS cancel_reason FROM deliveries
      WHERE state = 'leased' AND coalesce(started_at, 0) < ?`,
  );
  const nextExpiry = db.prepare<[], { at: number | null }>(
    `SELECT min(lease_until) AS at FROM deliveries WHERE state = 'leased'`,
  );

  const withEnvelopes = (rows: Row[]): ClaimedRow[] => {
    for (const row of rows)
      if (row.envelope === null)
        throw new Error(`delivery ${row.id} points at missing event ${row.seq}`);
    return rows as ClaimedRow[];
  };

  return {
    claim(sub, max, now, leaseUntil) {
      const rows = claim.all(leaseUntil, now, sub, now, max);
      rows.sort((a, b) => a.available_at - b.available_at || a.id - b.id);
      return withEnvelopes(rows);
    },
    claimFair(sub, max, now, leaseUntil) {
      const rows = claimFair.all(leaseUntil, now, sub, now, max);
      rows.sort((a, b) => (a.vt as number) - (b.vt as number) || a.id - b.id);
      // A process that did not know the subscription is fair (an older agentd) enqueues rows
      // without a virtual time: they are claimed once no fair row is available, never stranded.
      if (rows.length < max) {
        const plain = claim.all(leaseUntil, now, sub, now, max - rows.length);
        plain.sort((a, b) => a.available_at - b.available_at || a.id - b.id);
        rows.push(...plain);
      }
      return withEnvelopes(rows);
    },
    nextAvailableAt(sub) {
      return nextAvailable.get(sub)?.at ?? undefined;
    },
    envelope: (seq) => envelope.get(seq)?.envelope,
    expiredLeases(now, limit) {
      return expired.all(now, limit);
    },
    leasedBefore: (at) => leasedBefore.all(at),
    nextLeaseExpiry() {
      return nextExpiry.get()?.at ?? undefined;
    },
  };
}

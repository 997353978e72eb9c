// Durable waits (ctx.waitForEvent). Invariant: a delivery is 'parked' exactly while it has a row in
// `waits`; the row goes, the outcome is memoized as the wait's step and the delivery becomes ready,
// all in one transaction — so a resumed run always finds its outcome, and finds it once.
import type Database from 'better-sqlite3';
import type { AgentdEvent } from '../../core/envelope.js';
import { eventMatches } from '../../core/outbox-api.js';
import type { WaitOutcome, WaitRequest } from '../bus.js';
import type { StepStatements } from './steps-sql.js';

interface WaitRow {
  delivery: number;
  sub: string;
  seq: number;
  step: string;
  match: string | null;
}

export interface ParkedRow {
  sub: string;
  seq: number;
  started_at: number | null;
}

export interface WaitStatements {
  /** Parks a leased delivery: no attempt is counted, the lease ends, its key stays held. */
  park(id: number, attempt: number, now: number): ParkedRow | undefined;
  /** Records the wait, or resolves it at once with an event stored since `since`. */
  wait(delivery: number, row: ParkedRow, wait: WaitRequest, now: number): boolean;
  /** Resolves waits that the just-stored events match; returns how many woke. */
  resolve(events: readonly AgentdEvent[], now: number): number;
  /** Times out waits whose deadline passed; returns how many woke. */
  expire(now: number, limit: number): number;
  /** True while some delivery waits for events of this type. */
  waitsFor(type: string): boolean;
  /** The earliest deadline among a subscription's waits. */
  nextDeadline(sub: string): number | undefined;
}

export function waitStatements(db: Database.Database, steps: StepStatements): WaitStatements {
  // Like release: the lease ends without spending an attempt, so resuming is the same attempt.
  // A lease asked to stop cannot park (settle-sql.ts): it may only end as cancelled.
  const park = db.prepare<[number, number], ParkedRow>(
    `UPDATE deliveries SET state = 'parked', attempt = attempt - 1, lease_until = NULL
      WHERE id = ? AND attempt = ? AND state = 'leased' AND reason IS NULL
      RETURNING sub, seq, started_at`,
  );
  const insert = db.prepare<
    [number, string, number, string, string, string | null, number | null, number]
  >(
    `INSERT INTO waits (delivery, sub, seq, step, type, match, deadline, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  // Events of the type stored since the attempt began, newest first: an awaited event may arrive
  // while the handler still runs, before it parks.
  const recent = db.prepare<[string], { envelope: string; stored_at: number }>(
    `SELECT envelope, stored_at FROM events WHERE type = ? ORDER BY seq DESC`,
  );
  const anyWait = db.prepare<[], { n: number }>(`SELECT 1 AS n FROM waits LIMIT 1`);
  const ofType = db.prepare<[string], WaitRow>(
    `SELECT delivery, sub, seq, step, match FROM waits WHERE type = ? ORDER BY delivery`,
  );
  const typeWaited = db.prepare<[string], { n: number }>(
    `SELECT 1 AS n FROM waits WHERE type = ? LIMIT 1`,
  );
  const due = db.prepare<[number, number], WaitRow>(
    `SELECT delivery, sub, seq, step, match FROM waits
      WHERE deadline IS NOT NULL AND deadline <= ? ORDER BY deadline LIMIT ?`,
  );
  const nextDeadline = db.prepare<[string], { at: number | null }>(
    `SELECT min(deadline) AS at FROM waits WHERE sub = ?`,
  );
  const drop = db.prepare<[number]>(`DELETE FROM waits WHERE delivery = ?`);
  const unpark = db.prepare<[number, number]>(
    `UPDATE deliveries SET state = 'ready', available_at = ? WHERE id = ? AND state = 'parked'`,
  );

  function wake(
    row: { delivery: number; sub: string; seq: number; step: string },
    outcome: WaitOutcome,
    now: number,
  ): void {
    steps.save(row.sub, row.seq, row.step, JSON.stringify({ v: outcome }), now);
    drop.run(row.delivery);
    unpark.run(now, row.delivery);
  }

  function parseMatch(json: string | null): Record<string, unknown> | undefined {
    return json === null ? undefined : (JSON.parse(json) as Record<string, unknown>);
  }

  return {
    park: (id, attempt) => park.get(id, attempt),
    wait(delivery, row, wait, now) {
      const since = row.started_at ?? now;
      let early: AgentdEvent | undefined;
      // The connection is busy while iterating: the wake-up is written after the loop.
      for (const stored of recent.iterate(wait.type)) {
        // stored_at follows seq up to clock steps; a second of slack covers those.
        if (stored.stored_at < since - 1_000) break;
        const event = JSON.parse(stored.envelope) as AgentdEvent;
        if (stored.stored_at >= since && eventMatches(event, wait.match)) {
          early = event;
          break;
        }
      }
      if (early !== undefined) {
        wake({ delivery, sub: row.sub, seq: row.seq, step: wait.step }, { event: early }, now);
        return true;
      }
      insert.run(
        delivery,
        row.sub,
        row.seq,
        wait.step,
        wait.type,
        wait.match === undefined ? null : JSON.stringify(wait.match),
        wait.deadline ?? null,
        now,
      );
      return false;
    },
    resolve(events, now) {
      if (events.length === 0 || anyWait.get() === undefined) return 0;
      let woken = 0;
      for (const event of events) {
        for (const row of ofType.all(event.type)) {
          if (!eventMatches(event, parseMatch(row.match))) continue;
          wake(row, { event }, now);
          woken++;
        }
      }
      return woken;
    },
    expire(now, limit) {
      const rows = due.all(now, limit);
      for (const row of rows) wake(row, { timedOut: true, at: new Date(now).toISOString() }, now);
      return rows.length;
    },
    waitsFor: (type) => typeWaited.get(type) !== undefined,
    nextDeadline: (sub) => nextDeadline.get(sub)?.at ?? undefined,
  };
}

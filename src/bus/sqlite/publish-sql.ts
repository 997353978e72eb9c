// Publish: store each event once and fan it out into one delivery per matching active subscription,
// all inside the caller's transaction, so an acknowledged publish is a complete one.
import type Database from 'better-sqlite3';
import type { AgentdEvent } from '../../core/envelope.js';
import type { PublishResult } from '../bus.js';
import type { GovernedFanout } from './fanout-sql.js';
import type { FanoutTarget } from './governor-spec.js';
import type { KeyOrder } from './key-order-sql.js';

export type { FanoutTarget } from './governor-spec.js';

export interface Publisher {
  publish(
    events: readonly AgentdEvent[],
    targets: readonly FanoutTarget[],
    availableAt: number,
    now: number,
  ): PublishResult[];
}

export function publishStatements(
  db: Database.Database,
  keys: KeyOrder,
  governed: GovernedFanout,
): Publisher {
  // Dedup invariant: (source, id) is unique; a conflicting insert changes nothing.
  const insertEvent = db.prepare<[string, string, string, string | null, string, number, string]>(
    `INSERT INTO events (source, id, type, partitionkey, correlationid, stored_at, envelope)
     VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source, id) DO NOTHING`,
  );

  return {
    publish(events, targets, availableAt, now) {
      // A plain subscription's deliveries without a key wait here and are made together, in one
      // statement; before a keyed one of the same subscription is made, so that ids still follow
      // publish order within each subscription.
      const unkeyed = new Map<string, number[]>();
      const enqueueWaiting = (sub: string, seqs: number[]) => {
        keys.enqueueUnkeyed(sub, seqs, availableAt, now);
        seqs.length = 0;
      };
      const results = events.map((event) => {
        const info = insertEvent.run(
          event.source,
          event.id,
          event.type,
          event.partitionkey ?? null,
          event.correlationid,
          now,
          JSON.stringify(event),
        );
        if (info.changes === 0) return { id: event.id, source: event.source, duplicate: true };
        const seq = Number(info.lastInsertRowid);
        for (const target of targets) {
          if (target.governance === undefined) {
            if (!target.matches(event.type)) continue;
            const pkey = target.ordering === 'key' ? (event.partitionkey ?? null) : null;
            let seqs = unkeyed.get(target.name);
            if (pkey === null) {
              if (seqs === undefined) unkeyed.set(target.name, (seqs = []));
              seqs.push(seq);
              continue;
            }
            if (seqs !== undefined && seqs.length > 0) enqueueWaiting(target.name, seqs);
            keys.enqueue(target.name, seq, pkey, availableAt, now);
            continue;
          }
          // cancelOn looks at events whatever the subscription's types; it cancels older
          // deliveries before this event's own delivery (if the types take it) is made.
          governed.cancelFor(target, event, now);
          if (target.matches(event.type)) governed.enqueue(target, seq, event, availableAt, now);
        }
        return { id: event.id, source: event.source, duplicate: false };
      });
      for (const [sub, seqs] of unkeyed) if (seqs.length > 0) enqueueWaiting(sub, seqs);
      return results;
    },
  };
}

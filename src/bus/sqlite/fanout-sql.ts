// Fan-out to a governed subscription: the route key, singleton, cancelOn, debounce, batching and
// fair queuing applied to one stored event, inside the publish's transaction, so every process
// that publishes into the store (daemon, CLI, a second daemon) makes the same deliveries. Per
// event and subscription the steps run in this order:
//   1. cancelOn: the event cancels the unfinished deliveries of its key (it need not be delivered);
//   2. singleton 'skip': a key with an unfinished delivery gets a delivery that is skipped at once;
//   3. debounce: the key's newest delivery, if it never started, is skipped as superseded and the
//      burst goes on; otherwise a burst starts now (debounce_bursts keeps its start). The new
//      delivery is due at min(now + waitMs, burst start + maxWaitMs), no earlier than the publish
//      asked;
//   4. singleton 'replace': the key's older unfinished deliveries are cancelled;
//   5. the new delivery joins the key's open batch, or is enqueued (with a virtual time when fair).
import type Database from 'better-sqlite3';
import type { AgentdEvent } from '../../core/envelope.js';
import type { BatchStatements } from './batch-sql.js';
import type { CancelStatements, OpenDelivery } from './cancel-sql.js';
import type { FairStatements } from './fair-sql.js';
import type { FanoutTarget, Governance } from './governor-spec.js';
import type { KeyOrder } from './key-order-sql.js';

export interface GovernedFanout {
  /** Step 1: when the event is one of the target's cancelOn events. */
  cancelFor(target: FanoutTarget, event: AgentdEvent, now: number): void;
  /** Steps 2-5: the target's delivery of the stored event `seq`. */
  enqueue(
    target: FanoutTarget,
    seq: number,
    event: AgentdEvent,
    availableAt: number,
    now: number,
  ): void;
  /** A replayed dead letter: keyed, batched and fair like a new delivery, never skipped. */
  requeue(target: FanoutTarget, seq: number, event: AgentdEvent, now: number): void;
  /** Drops burst starts of keys with nothing unfinished (their next event starts a burst). */
  sweep(): void;
}

export interface FanoutParts {
  keys: KeyOrder;
  cancels: CancelStatements;
  batches: BatchStatements;
  fair: FairStatements;
  /** Told when a leased delivery was asked to stop, so its holder can be told after the commit. */
  onCancelRequested: () => void;
}

export function governedFanout(db: Database.Database, parts: FanoutParts): GovernedFanout {
  const { keys, cancels, batches, fair } = parts;
  // Born finished: no route key kept (only unfinished rows have one, schema.ts).
  const insertSkipped = db.prepare<[string, number, string | null, number, number, string, number]>(
    `INSERT INTO deliveries (sub, seq, pkey, state, available_at, created_at, reason, finished_at)
     VALUES (?, ?, ?, 'skipped', ?, ?, ?, ?)`,
  );

  const burstOf = db.prepare<[string, string], { first_at: number }>(
    `SELECT first_at FROM debounce_bursts WHERE sub = ? AND rkey = ?`,
  );
  const startBurst = db.prepare<[string, string, number]>(
    `INSERT INTO debounce_bursts (sub, rkey, first_at) VALUES (?, ?, ?)
     ON CONFLICT (sub, rkey) DO UPDATE SET first_at = excluded.first_at`,
  );
  // deliveries_keyed holds exactly the unfinished governed rows.
  const staleBursts = db.prepare(
    `DELETE FROM debounce_bursts WHERE NOT EXISTS (SELECT 1 FROM deliveries d
       WHERE d.sub = debounce_bursts.sub AND d.rkey = debounce_bursts.rkey)`,
  );

  const cancelKey = (sub: string, rkey: string, reason: string, now: number): void => {
    if (cancels.cancelKey(sub, rkey, reason, now) > 0) parts.onCancelRequested();
  };

  function place(
    target: FanoutTarget,
    governance: Governance,
    seq: number,
    rkey: string | null,
    availableAt: number,
    now: number,
  ): void {
    const sub = target.name;
    const pkey = target.ordering === 'key' ? rkey : null;
    const batch = governance.spec.batch;
    const batching = batch !== undefined && batch.maxSize > 1;
    // A group per route key; events without one share the subscription's group. The prefix keeps
    // an empty-string key apart from "no key".
    const group = rkey === null ? '' : `=${rkey}`;
    if (batching) {
      const leader = batches.openLeader(sub, group);
      if (leader !== undefined) {
        batches.join({ sub, group, leader, seq, pkey, rkey, availableAt }, batch.maxSize, now);
        return;
      }
    }
    const vt =
      governance.weightOf === undefined ? null : fair.assign(sub, rkey, governance.weightOf(rkey));
    // A batch's leader waits maxWaitMs for company; a full batch makes it available (batch-sql.ts).
    const wait = batching ? batch.maxWaitMs : 0;
    const id = keys.enqueueGoverned(
      { sub, seq, pkey, rkey, availableAt: availableAt + wait, vt },
      now,
    );
    if (batching) batches.open(sub, group, id);
  }

  return {
    cancelFor(target, event, now) {
      const governance = target.governance;
      if (governance?.cancels === undefined || !governance.cancels(event)) return;
      const rkey = governance.keyOf(event);
      if (rkey !== null) cancelKey(target.name, rkey, `cancelOn: ${event.type} ${event.id}`, now);
    },
    enqueue(target, seq, event, availableAt, now) {
      const governance = target.governance as Governance;
      const { singleton, debounce } = governance.spec;
      const sub = target.name;
      const rkey = governance.keyOf(event);
      if (singleton === 'skip' && rkey !== null && cancels.keyBusy(sub, rkey)) {
        const reason = `singleton: key "${rkey}" already has an unfinished run`;
        const pkey = target.ordering === 'key' ? rkey : null;
        insertSkipped.run(sub, seq, pkey, availableAt, now, reason, now);
        return;
      }
      let due = availableAt;
      if (debounce !== undefined) {
        // An event without a key is a burst of its own.
        let burstAt = now;
        const newest = rkey === null ? undefined : cancels.newestOfKey(sub, rkey);
        if (rkey !== null && newest !== undefined && notStarted(newest)) {
          // A swept or lost start: the superseded delivery's own time is the nearest known.
          burstAt = burstOf.get(sub, rkey)?.first_at ?? newest.created_at;
          cancels.endQueued(sub, newest, 'skipped', `debounced: superseded by ${event.id}`, now);
        } else if (rkey !== null) {
          startBurst.run(sub, rkey, now);
        }
        const cap = debounce.maxWaitMs === undefined ? Infinity : burstAt + debounce.maxWaitMs;
        due = Math.max(availableAt, Math.min(now + debounce.waitMs, cap));
      }
      if (singleton === 'replace' && rkey !== null)
        cancelKey(sub, rkey, `singleton: replaced by event ${event.id}`, now);
      place(target, governance, seq, rkey, due, now);
    },
    requeue(target, seq, event, now) {
      const governance = target.governance as Governance;
      place(target, governance, seq, governance.keyOf(event), now, now);
    },
    sweep() {
      staleBursts.run();
    },
  };
}

// Never claimed (or handed back unstarted: release and defer do not count an attempt).
function notStarted(row: OpenDelivery): boolean {
  return (
    (row.state === 'waiting' || row.state === 'ready') && row.attempt === 0 && row.batch === null
  );
}

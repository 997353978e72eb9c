// Every prepared statement group of the SQLite bus, built once per connection. Each group lives in
// a file of its own with the invariant its statements keep.
import type Database from 'better-sqlite3';
import type { AgentdEvent } from '../../core/envelope.js';
import { batchStatements, type BatchStatements } from './batch-sql.js';
import { cancelStatements, type CancelStatements } from './cancel-sql.js';
import { claimStatements, type ClaimStatements } from './claim-sql.js';
import { dlqStatements, type DlqStatements } from './dlq-sql.js';
import { fairStatements, type FairStatements } from './fair-sql.js';
import { governedFanout, type GovernedFanout } from './fanout-sql.js';
import type { FanoutTarget } from './governor-spec.js';
import { keyOrderStatements, type KeyOrder } from './key-order-sql.js';
import { publishStatements, type Publisher } from './publish-sql.js';
import { retentionStatements, type RetentionStatements } from './retention-sql.js';
import { settleStatements, type SettleStatements } from './settle-sql.js';
import { stepStatements, type StepStatements } from './steps-sql.js';
import { waitStatements, type WaitStatements } from './wait-sql.js';

export interface SqliteStatements {
  keys: KeyOrder;
  publisher: Publisher;
  claims: ClaimStatements;
  settle: SettleStatements;
  dlq: DlqStatements;
  steps: StepStatements;
  retention: RetentionStatements;
  waits: WaitStatements;
  cancels: CancelStatements;
  batches: BatchStatements;
  fair: FairStatements;
  governed: GovernedFanout;
}

export interface StatementHooks {
  /** The active subscription's fan-out target, if it is active. */
  targetOf: (name: string) => FanoutTarget | undefined;
  /** Fan-out asked a leased delivery to stop. */
  onCancelRequested: () => void;
}

export function buildStatements(db: Database.Database, hooks: StatementHooks): SqliteStatements {
  const keys = keyOrderStatements(db);
  const steps = stepStatements(db);
  const batches = batchStatements(db);
  const cancels = cancelStatements(db, keys, batches);
  const fair = fairStatements(db);
  const governed = governedFanout(db, {
    keys,
    cancels,
    batches,
    fair,
    onCancelRequested: hooks.onCancelRequested,
  });
  return {
    keys,
    publisher: publishStatements(db, keys, governed),
    claims: claimStatements(db),
    settle: settleStatements(db),
    // A replayed dead letter's new delivery is made as fan-out would make it now.
    dlq: dlqStatements(db, (row, now) => {
      const target = hooks.targetOf(row.sub);
      if (target?.governance === undefined) keys.enqueue(row.sub, row.seq, row.pkey, now, now);
      else governed.requeue(target, row.seq, JSON.parse(row.envelope) as AgentdEvent, now);
    }),
    steps,
    retention: retentionStatements(db),
    waits: waitStatements(db, steps),
    cancels,
    batches,
    fair,
    governed,
  };
}

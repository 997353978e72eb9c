// Acks that record nothing (no emits, no outbox actions, no batch members), gathered per group
// commit into one statement per kind: a busy worker settles dozens of runs per tick, and one UPDATE
// for all of them costs about half as much per row as one UPDATE each.
import type { FinishRequest, SettledRow } from './settle-sql.js';
import type { SqliteStatements } from './sqlite-statements.js';

export interface AckBatchHost {
  readonly sql: SqliteStatements;
  now(): number;
  write<T>(fn: () => T): Promise<T>;
  endedInTxn(
    id: number,
    row: SettledRow,
    state: 'acked' | 'skipped',
    reason: null,
    batched: false,
    now: number,
  ): void;
}

/** A lease to finish, with what its claim said of the row (none of it changes while leased). */
export interface AckRequest extends FinishRequest {
  row: SettledRow;
  /** The row has a route key to clear (settle-sql.ts). */
  keyed: boolean;
}

interface PendingAck extends AckRequest {
  resolve: (finished: boolean) => void;
}

/** Thrown inside the batch's write to roll it back: some lease in it did not finish. */
class UnfinishedLease extends Error {}

export class AckBatch {
  private pending = new Map<number, PendingAck>();

  constructor(private readonly host: AckBatchHost) {}

  /**
   * Finishes the lease in the next group commit, with its key advanced. Resolves false when it
   * did not: the batch held a lease that was asked to stop or has moved on, or it failed, and was
   * rolled back whole; the caller then settles its lease alone, which says what became of it.
   */
  finish(request: AckRequest): Promise<boolean> {
    // A second ack of the same lease in one tick is not batched: alone, it finds the lease gone.
    if (this.pending.has(request.id)) return Promise.resolve(false);
    return new Promise((resolve) => {
      this.pending.set(request.id, { ...request, resolve });
      if (this.pending.size === 1) this.schedule();
    });
  }

  private schedule(): void {
    let batch: Map<number, PendingAck> | undefined;
    const take = () => {
      batch = this.pending;
      this.pending = new Map();
      return batch;
    };
    // Async, so a bus that refuses the write at once (closed) rejects like one that fails later.
    const written = (async () => this.host.write(() => this.finishInTxn(take())))();
    written.then(
      () => {
        for (const ack of (batch as Map<number, PendingAck>).values()) ack.resolve(true);
      },
      () => {
        // Nothing of the batch was kept: each ack is settled alone next, so a lease that did not
        // finish, or a row that fails, concerns only its own caller, who hears why.
        for (const ack of (batch ?? take()).values()) ack.resolve(false);
      },
    );
  }

  private finishInTxn(batch: ReadonlyMap<number, PendingAck>): void {
    const now = this.host.now();
    const plain: PendingAck[] = [];
    const keyed: PendingAck[] = [];
    for (const ack of batch.values()) (ack.keyed ? keyed : plain).push(ack);
    for (const [requests, isKeyed] of [
      [plain, false],
      [keyed, true],
    ] as const) {
      if (requests.length === 0) continue;
      if (this.host.sql.settle.finishMany(requests, now, isKeyed) !== requests.length)
        throw new UnfinishedLease();
    }
    for (const ack of batch.values())
      this.host.endedInTxn(ack.id, ack.row, ack.state, null, false, now);
  }
}

// Group commit: every write issued in the same tick shares one IMMEDIATE transaction, and each
// caller's promise settles only after that transaction has committed (durable before resolve).
import type Database from 'better-sqlite3';

interface PendingWrite {
  fn: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  outcome?: { ok: true; value: unknown } | { ok: false; error: unknown };
}

export class GroupCommit {
  private queue: PendingWrite[] = [];
  private scheduled = false;
  private readonly isolated: (fn: () => unknown) => unknown;
  private readonly batch: (writes: PendingWrite[]) => void;
  private readonly afterCommit: Array<() => void> = [];

  constructor(db: Database.Database) {
    // Called inside the batch transaction, better-sqlite3 turns this into a SAVEPOINT: one failing
    // write rolls back alone and the others in the batch still commit.
    this.isolated = db.transaction((fn: () => unknown) => fn());
    const batch = db.transaction((writes: PendingWrite[]) => {
      for (const write of writes) {
        try {
          write.outcome = { ok: true, value: this.isolated(write.fn) };
        } catch (error) {
          write.outcome = { ok: false, error };
        }
      }
    });
    this.batch = (writes) => batch.immediate(writes);
  }

  /** Runs `fn` inside the next batch; resolves with its result once the batch is committed. */
  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Registers a callback for after each commit (wake-ups of waiting consumers). */
  onCommit(callback: () => void): void {
    this.afterCommit.push(callback);
  }

  /** Commits what is queued now; used on close so nothing waits for another tick. */
  flush(): void {
    this.scheduled = false;
    const writes = this.queue;
    if (writes.length === 0) return;
    this.queue = [];
    try {
      this.batch(writes);
    } catch (error) {
      // The commit itself failed (disk full, lock timeout): nothing in the batch was stored.
      for (const write of writes) write.reject(error);
      return;
    }
    for (const write of writes) {
      const outcome = write.outcome;
      if (outcome?.ok) write.resolve(outcome.value);
      else write.reject(outcome?.error ?? new Error('write did not run'));
    }
    for (const callback of this.afterCommit) callback();
  }
}

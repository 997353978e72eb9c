// Run status changes seen by this process's worker, kept briefly for the admin API's live stream.
// Nothing is recorded while no one listens, so the worker pays nothing without a dashboard open.
import type { LiveRunStatus, RunChange } from '../server/admin-types.js';

export type { LiveRunStatus, RunChange };

export interface LiveCursor {
  /** Changes since the last call; `missed` counts changes dropped because the reader fell behind. */
  next(): { changes: RunChange[]; missed: number };
  close(): void;
}

const KEEP = 2_000;

export class LiveFeed {
  private readonly changes: RunChange[] = [];
  /** Absolute index of changes[0]. */
  private base = 0;
  private listeners = 0;

  get active(): boolean {
    return this.listeners > 0;
  }

  runChanged(change: RunChange): void {
    if (this.listeners === 0) return;
    this.changes.push(change);
    if (this.changes.length > KEEP * 2) {
      const drop = this.changes.length - KEEP;
      this.changes.splice(0, drop);
      this.base += drop;
    }
  }

  subscribe(): LiveCursor {
    this.listeners++;
    let position = this.base + this.changes.length;
    let closed = false;
    return {
      next: () => {
        const missed = Math.max(0, this.base - position);
        const start = Math.max(position, this.base) - this.base;
        const out = this.changes.slice(start);
        position = this.base + this.changes.length;
        return { changes: out, missed };
      },
      close: () => {
        if (closed) return;
        closed = true;
        this.listeners--;
        if (this.listeners === 0) {
          this.base += this.changes.length;
          this.changes.length = 0;
        }
      },
    };
  }
}

// Tells this process's onCancel listeners about leases the bus asked to stop (singleton 'replace',
// cancelOn), each once: after a commit of ours that asked, and when another process's commit
// shows up while a consumer waits. A holder that is not told (another process, no waiting pull)
// still learns it from its next extend() or settle call (sqlite-delivery.ts).
import { describeError } from '../../core/errors.js';
import type { CancelListener } from '../bus.js';
import type { CancelRequest } from './cancel-sql.js';

export class CancelNotices {
  private readonly listeners = new Map<string, Set<CancelListener>>();
  private told = new Set<number>();
  private asked = false;

  /** `pending` lists every lease asked to stop (read on the writer connection). */
  constructor(private readonly pending: () => CancelRequest[]) {}

  add(sub: string, listener: CancelListener): () => void {
    const set = this.listeners.get(sub) ?? new Set<CancelListener>();
    this.listeners.set(sub, set);
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(sub);
    };
  }

  /** Inside a write: a lease was asked to stop; its holder is told after the commit. */
  markAsked(): void {
    this.asked = true;
  }

  afterCommit(): void {
    if (!this.asked) return;
    this.asked = false;
    this.notify();
  }

  /** Tells each listener of each pending request it was not told of yet. */
  notify(): void {
    if (this.listeners.size === 0) return;
    const pending = this.pending();
    const told = this.told;
    // Only pending ids are remembered: a settled lease leaves the set with its request.
    this.told = new Set(pending.map((request) => request.id));
    for (const request of pending) {
      if (told.has(request.id)) continue;
      for (const listener of [...(this.listeners.get(request.sub) ?? [])]) {
        try {
          listener(String(request.id), request.reason);
        } catch (error) {
          // A listener is the worker's; its failure must neither undo the commit nor stop the
          // others from being told.
          process.emitWarning(
            `onCancel listener of ${request.sub} failed for delivery ${request.id}: ${describeError(error)}`,
          );
        }
      }
    }
  }
}

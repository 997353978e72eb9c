// Turns a stream of file changes into bursts: changes are collected until none came for
// `debounceMs` (or the burst has lasted `maxWaitMs`, or holds `maxPaths` paths), and each path is
// reported once with the net effect of what happened to it.
import type { CancelTimer, Clock } from '../../core/clock.js';

export const CHANGE_KINDS = ['add', 'change', 'unlink', 'addDir', 'unlinkDir'] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

export interface FileChange {
  path: string;
  kind: ChangeKind;
}

export interface ChangeCoalescerOptions {
  debounceMs: number;
  maxWaitMs: number;
  maxPaths: number;
  clock: Clock;
  /** Receives each burst, in order, with at most maxPaths changes. */
  flush(changes: FileChange[]): void;
}

export class ChangeCoalescer {
  /** Net change per path, in the order paths were first seen. */
  private pending = new Map<string, ChangeKind>();
  private quietTimer: CancelTimer | undefined;
  private maxWaitTimer: CancelTimer | undefined;

  constructor(private readonly options: ChangeCoalescerOptions) {}

  add(path: string, kind: ChangeKind): void {
    const net = combine(this.pending.get(path), kind);
    if (net === undefined) this.pending.delete(path);
    else this.pending.set(path, net);
    if (this.pending.size >= this.options.maxPaths) return this.flushNow();
    const { clock } = this.options;
    this.quietTimer?.();
    this.quietTimer = clock.setTimer(() => this.flushNow(), this.options.debounceMs);
    this.maxWaitTimer ??= clock.setTimer(() => this.flushNow(), this.options.maxWaitMs);
  }

  /** Reports what is pending now (on shutdown, so nothing seen is lost). */
  flushNow(): void {
    this.quietTimer?.();
    this.maxWaitTimer?.();
    this.quietTimer = undefined;
    this.maxWaitTimer = undefined;
    if (this.pending.size === 0) return;
    const changes = [...this.pending].map(([path, kind]) => ({ path, kind }));
    this.pending = new Map();
    this.options.flush(changes);
  }
}

const isDir = (kind: ChangeKind) => kind === 'addDir' || kind === 'unlinkDir';

/**
 * The net effect of `next` after `prev` on one path; undefined when nothing is left to report (a
 * file created and deleted within one burst).
 */
export function combine(prev: ChangeKind | undefined, next: ChangeKind): ChangeKind | undefined {
  if (prev === undefined || isDir(prev) !== isDir(next)) return next;
  switch (prev) {
    case 'add':
      return next === 'unlink' ? undefined : 'add';
    case 'change':
      return next === 'unlink' ? 'unlink' : 'change';
    case 'unlink':
      // Deleted and written again (an editor's atomic save): the file changed.
      return next === 'unlink' ? 'unlink' : 'change';
    case 'addDir':
      return next === 'unlinkDir' ? undefined : 'addDir';
    case 'unlinkDir':
      return next === 'addDir' ? 'addDir' : 'unlinkDir';
  }
}

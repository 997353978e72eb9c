// Bursts of file changes refused because a route's backlog is full, merged into one bounded set
// until there is room: each path keeps its net change across bursts, at most `maxPaths` paths are
// listed, and paths past that are counted, so the one event that reports them says what it left out.
import { combine, type ChangeKind, type FileChange } from './change-coalescer.js';

export interface HeldBursts {
  changes: FileChange[];
  /** Bursts merged into these changes. */
  bursts: number;
  /** Changed paths not listed because `maxPaths` were listed already. */
  omitted: number;
}

export class HeldChanges {
  private changes = new Map<string, ChangeKind>();
  private bursts = 0;
  private omitted = 0;

  constructor(private readonly maxPaths: number) {}

  get isEmpty(): boolean {
    return this.bursts === 0;
  }

  add(burst: readonly FileChange[]): void {
    this.bursts++;
    for (const { path, kind } of burst) {
      const prev = this.changes.get(path);
      if (prev === undefined && this.changes.size >= this.maxPaths) {
        this.omitted++;
        continue;
      }
      const net = combine(prev, kind);
      if (net === undefined) this.changes.delete(path);
      else this.changes.set(path, net);
    }
  }

  /** What is held, with paths in the order they were first held. */
  peek(): HeldBursts {
    return {
      changes: [...this.changes].map(([path, kind]) => ({ path, kind })),
      bursts: this.bursts,
      omitted: this.omitted,
    };
  }

  clear(): void {
    this.changes = new Map();
    this.bursts = 0;
    this.omitted = 0;
  }
}

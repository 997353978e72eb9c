// Waking consumers: a pull with nothing to claim waits here until a commit of ours that made
// something ready, a commit of another process (PRAGMA data_version moves; polled only while
// someone waits), its real-time patience running out, or the bus clock reaching the next time
// something becomes available (through Clock.setTimer, so a manual clock wakes it when advanced).
import type Database from 'better-sqlite3';
import type { CancelTimer, Clock } from '../../core/clock.js';

export class ChangeWatch {
  private readonly waiters = new Set<() => void>();
  private poller: NodeJS.Timeout | undefined;
  private dataVersion: number;
  private stopped = false;

  constructor(
    private readonly db: Database.Database,
    private readonly clock: Clock,
    private readonly pollIntervalMs: number,
    /** Called when another process's commit is seen, before the waiters wake. */
    private readonly onForeignCommit: () => void,
  ) {
    this.dataVersion = this.readDataVersion();
  }

  /** Resolves on a wake-up, after `ms` of real time, or when the clock reaches `wakeAt`. */
  wait(ms: number, wakeAt: number | undefined, signal: AbortSignal | undefined): Promise<void> {
    // Aborted while the caller was busy claiming: the abort event has already fired.
    if (signal?.aborted === true) return Promise.resolve();
    return new Promise((resolve) => {
      let cancelClockTimer: CancelTimer | undefined;
      const done = () => {
        clearTimeout(timer);
        cancelClockTimer?.();
        this.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      // On the system clock this is a second real timer; a manual clock fires it when advanced.
      if (wakeAt !== undefined)
        cancelClockTimer = this.clock.setTimer(done, Math.max(0, wakeAt - this.clock.now()));
      this.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
      this.startPolling();
    });
  }

  wakeAll(): void {
    for (const wake of [...this.waiters]) wake();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.poller);
    this.poller = undefined;
    this.wakeAll();
  }

  private startPolling(): void {
    if (this.poller !== undefined || this.stopped) return;
    this.poller = setInterval(() => {
      if (this.waiters.size === 0) {
        clearInterval(this.poller);
        this.poller = undefined;
        return;
      }
      const version = this.readDataVersion();
      if (version === this.dataVersion) return;
      this.dataVersion = version;
      this.onForeignCommit();
      this.wakeAll();
    }, this.pollIntervalMs);
    this.poller.unref();
  }

  private readDataVersion(): number {
    return this.db.pragma('data_version', { simple: true }) as number;
  }
}

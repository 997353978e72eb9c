// Keeps checkpoints off the hot path. A checkpoint (copying the WAL back into the database file)
// fsyncs the WAL and then the database on the event loop's thread: with SQLite's default trigger,
// every 1,000 pages, that is a stall of milliseconds several times a second under steady traffic.
// Instead, the WAL is fdatasync'ed in the background every WAL_SYNC_INTERVAL_MS, so little is
// left for the checkpoint's own fsync, and a checkpoint runs about once a second; SQLite's
// trigger stays only as a ceiling on the WAL.
import type Database from 'better-sqlite3';
import { open } from 'node:fs/promises';

const WAL_SYNC_INTERVAL_MS = 200;
const CHECKPOINT_INTERVAL_MS = 1_000;
export const WAL_AUTOCHECKPOINT_PAGES = 10_000;

export class WalSync {
  private timer: NodeJS.Timeout | undefined;
  private syncedChanges = 0;
  private checkpointedChanges = 0;
  private lastCheckpoint = 0;
  private stopped = false;

  constructor(
    private readonly db: Database.Database,
    private readonly walPath: string,
  ) {
    db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
  }

  /** Called after each commit: a sync is due within WAL_SYNC_INTERVAL_MS. */
  schedule(): void {
    if (this.timer !== undefined || this.stopped) return;
    this.timer = setTimeout(() => void this.sync(), WAL_SYNC_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async sync(): Promise<void> {
    // Idle consumers commit empty claims every second: no change, nothing to sync or checkpoint.
    const changes = this.totalChanges();
    if (changes !== this.syncedChanges) {
      this.syncedChanges = changes;
      try {
        // On libuv's pool, off the event loop. Purely extra syncing: no guarantee relies on it.
        // SQLite locks the database and -shm files, never the WAL, so closing this descriptor
        // cannot drop its POSIX locks.
        const wal = await open(this.walPath, 'r+');
        await wal.datasync().finally(() => wal.close());
      } catch {
        // No WAL file right now, or no background sync here: the checkpoint syncs all the same.
      }
    }
    this.timer = undefined;
    const now = Date.now();
    if (this.stopped || changes === this.checkpointedChanges) return;
    if (now - this.lastCheckpoint < CHECKPOINT_INTERVAL_MS) return;
    this.lastCheckpoint = now;
    this.checkpointedChanges = this.totalChanges();
    try {
      // PASSIVE never waits for readers; what it cannot copy now, the next one will.
      this.db.pragma('wal_checkpoint(PASSIVE)');
    } catch {
      // Committed data stays in the WAL either way; a disk that keeps failing fails the next write.
    }
  }

  private totalChanges(): number {
    return this.db.prepare<[], number>('SELECT total_changes()').pluck().get() as number;
  }
}

// One watched root (a directory or a file) that may come and go. chokidar stops seeing a root once
// it is deleted; so the root is checked every `rescanMs`, and when it is back (or was replaced by a
// new directory of the same name) a fresh watcher reports everything in it as added.
import { watch, type FSWatcher } from 'chokidar';
import type { Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import type { CancelTimer, Clock } from '../../core/clock.js';
import type { ChangeKind } from './change-coalescer.js';

export interface RootWatchOptions {
  ignores(path: string): boolean;
  usePolling: boolean;
  clock: Clock;
  rescanMs: number;
  onChange(kind: ChangeKind, path: string): void;
  onError(error: unknown): void;
}

const KINDS = new Set<string>(['add', 'change', 'unlink', 'addDir', 'unlinkDir']);

export class RootWatch {
  private watcher: FSWatcher | undefined;
  /** Identity of the root the watcher was opened on: a different inode means it was replaced. */
  private inode: number | undefined;
  private timer: CancelTimer | undefined;
  private checking: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    readonly root: string,
    private readonly options: RootWatchOptions,
  ) {}

  /** Resolves once the root is watched (or known to be missing, and looked for from now on). */
  async start(): Promise<void> {
    const found = await statOrUndefined(this.root);
    if (found !== undefined) await this.open(found, false);
    this.arm();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.timer?.();
    await this.checking;
    await this.watcher?.close();
    this.watcher = undefined;
  }

  private arm(): void {
    if (this.closed) return;
    this.timer = this.options.clock.setTimer(() => {
      this.checking = this.check().then(
        () => this.arm(),
        (error: unknown) => {
          this.options.onError(error);
          this.arm();
        },
      );
      return this.checking;
    }, this.options.rescanMs);
  }

  private async check(): Promise<void> {
    const found = await statOrUndefined(this.root);
    if (this.closed) return;
    if (found === undefined) {
      // Gone: nothing to watch until the root is back.
      if (this.watcher !== undefined) await this.reset();
      return;
    }
    if (this.watcher === undefined || found.ino !== this.inode) {
      if (this.watcher !== undefined) await this.reset();
      // A root that came back is new: everything in it is reported as added.
      await this.open(found, true);
    }
  }

  /**
   * Drops the watcher of a root that is gone or was replaced, reporting as removed everything it
   * knew: chokidar may not have reported the removal itself, or not yet when it is closed here.
   */
  private async reset(): Promise<void> {
    const old = this.watcher;
    if (old === undefined) return;
    this.watcher = undefined;
    this.inode = undefined;
    const inside = (path: string) => path === this.root || path.startsWith(this.root + sep);
    const watched = old.getWatched();
    const dirs = new Set(Object.keys(watched));
    const gone: Array<[ChangeKind, string]> = [];
    for (const [dir, names] of Object.entries(watched))
      for (const name of names) {
        const path = join(dir, name);
        if (inside(path)) gone.push([dirs.has(path) ? 'unlinkDir' : 'unlink', path]);
      }
    await old.close();
    // Deepest first, as chokidar reports a removed tree.
    gone.sort((a, b) => b[1].length - a[1].length);
    for (const [kind, path] of gone) this.options.onChange(kind, path);
  }

  private async open(found: Stats, reportExisting: boolean): Promise<void> {
    const watcher = watch(this.root, {
      ignoreInitial: !reportExisting,
      ignored: (path: string) => this.options.ignores(path),
      usePolling: this.options.usePolling,
      persistent: true,
    });
    watcher.on('all', (kind: string, path: string) => {
      if (KINDS.has(kind)) this.options.onChange(kind as ChangeKind, path);
    });
    watcher.on('error', (error: unknown) => this.options.onError(error));
    await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
    if (this.closed) {
      await watcher.close();
      return;
    }
    this.watcher = watcher;
    this.inode = found.ino;
  }
}

async function statOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw error;
  }
}

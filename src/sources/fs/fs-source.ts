// The `fs` source: watches files and publishes each burst of changes as one `fs.changed` event
// naming every changed path and how it changed, keyed by the watch's name.
import { systemClock, type Clock } from '../../core/clock.js';
import { toEvent, type AgentdEvent } from '../../core/envelope.js';
import { DEFAULT_FS_IGNORES } from '../../core/fs-source-config.js';
import type { Logger } from '../../observe/log.js';
import type { Publish, Source } from '../source.js';
import { ChangeCoalescer, type FileChange } from './change-coalescer.js';
import { RootWatch } from './root-watch.js';
import { planWatch, type WatchPlan } from './watch-plan.js';

export const FS_CHANGED_DATASCHEMA = 'agentd:fs.changed/v1';

export interface FsSourceOptions {
  name: string;
  paths: readonly string[];
  ignore?: readonly string[] | undefined;
  /** Relative paths and globs are read from here (the config file's directory). */
  baseDir: string;
  /** agentd's data directory: never watched, or each commit to the store would be a change. */
  dataDir?: string | undefined;
  debounceMs?: number | undefined;
  maxWaitMs?: number | undefined;
  maxPaths?: number | undefined;
  usePolling?: boolean | undefined;
  /** How often a missing or replaced root is looked for. Default 1000. */
  rescanMs?: number;
  clock?: Clock;
  log: Logger;
  node?: string;
}

/** `data` of `fs.changed` (agentd:fs.changed/v1). */
export interface FsChangedData {
  watch: string;
  /** The directory `changes[].path` are relative to. */
  base: string;
  changes: FileChange[];
}

export class FsSource implements Source {
  readonly kind = 'fs';
  readonly name: string;
  private readonly plan: WatchPlan;
  private readonly watches: RootWatch[] = [];
  private coalescer: ChangeCoalescer | undefined;
  /** Publishes one after another, so bursts are stored in the order they happened. */
  private publishing: Promise<void> = Promise.resolve();
  private stopping: Promise<void> | undefined;

  constructor(private readonly options: FsSourceOptions) {
    this.name = options.name;
    this.plan = planWatch({
      paths: options.paths,
      ignore: [...DEFAULT_FS_IGNORES, ...(options.ignore ?? [])],
      baseDir: options.baseDir,
      ...(options.dataDir === undefined ? {} : { ignoreDirs: [options.dataDir] }),
    });
  }

  async start(publish: Publish, signal: AbortSignal): Promise<void> {
    const { options, plan } = this;
    const clock = options.clock ?? systemClock;
    const coalescer = new ChangeCoalescer({
      debounceMs: options.debounceMs ?? 200,
      maxWaitMs: options.maxWaitMs ?? 2_000,
      maxPaths: options.maxPaths ?? 1_000,
      clock,
      flush: (changes) => this.enqueue(publish, changes),
    });
    this.coalescer = coalescer;
    for (const root of plan.roots) {
      this.watches.push(
        new RootWatch(root, {
          ignores: (path) => plan.ignores(path),
          usePolling: options.usePolling ?? false,
          clock,
          rescanMs: options.rescanMs ?? 1_000,
          onChange: (kind, path) => {
            if (plan.includes(path) && !plan.ignores(path)) coalescer.add(plan.display(path), kind);
          },
          onError: (error) =>
            options.log.warn({ source: this.name, root, err: error }, 'file watch error'),
        }),
      );
    }
    signal.addEventListener(
      'abort',
      () => {
        this.stopped().catch((error: unknown) =>
          options.log.error({ source: this.name, err: error }, 'file watch did not stop cleanly'),
        );
      },
      { once: true },
    );
    await Promise.all(this.watches.map((watch) => watch.start()));
    options.log.info({ source: this.name, roots: plan.roots }, `watching files for ${this.name}`);
  }

  /** Closes the watchers and publishes the changes seen up to then. */
  stopped(): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.all(this.watches.map((watch) => watch.close()));
      this.coalescer?.flushNow();
      await this.publishing;
    })();
    return this.stopping;
  }

  private enqueue(publish: Publish, changes: FileChange[]): void {
    const event = this.event(changes);
    this.publishing = this.publishing.then(async () => {
      try {
        await publish([event]);
      } catch (error) {
        this.options.log.error(
          { source: this.name, eventId: event.id, paths: changes.length, err: error },
          'could not publish fs.changed: these changes are not reported',
        );
      }
    });
  }

  private event(changes: FileChange[]): AgentdEvent {
    const data: FsChangedData = { watch: this.name, base: this.options.baseDir, changes };
    return toEvent(
      {
        type: 'fs.changed',
        dataschema: FS_CHANGED_DATASCHEMA,
        datacontenttype: 'application/json',
        partitionkey: this.name,
        time: new Date((this.options.clock ?? systemClock).now()).toISOString(),
        data,
      },
      {
        source: `fs:${this.name}`,
        trust: 'operator',
        ...(this.options.node === undefined ? {} : { origin: this.options.node }),
      },
    );
  }
}

// The `fs` source: watches files and publishes each burst of changes as one `fs.changed` event
// naming every changed path and how it changed, keyed by the watch's name. While a route's backlog
// is full, bursts are held in one bounded set and published as one event when there is room.
import { systemClock, type CancelTimer, type Clock } from '../../core/clock.js';
import { toEvent, type AgentdEvent } from '../../core/envelope.js';
import { DEFAULT_FS_IGNORES } from '../../core/fs-source-config.js';
import { isBacklogFull, type BacklogFullError } from '../../governor/backpressure-error.js';
import type { Logger } from '../../observe/log.js';
import type { Publish, Source } from '../source.js';
import { ChangeCoalescer, type FileChange } from './change-coalescer.js';
import { HeldChanges, type HeldBursts } from './held-changes.js';
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
  /** Set when bursts were held back by a full route backlog: how many this event stands for. */
  coalesced?: number;
  /** Changed paths left out of `changes` because more than maxPaths changed while held back. */
  omitted?: number;
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
  /** Bursts refused by a full backlog, waiting for room; created with the source's maxPaths. */
  private held: HeldChanges | undefined;
  private retryTimer: CancelTimer | undefined;
  private publish: Publish | undefined;

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
    const maxPaths = options.maxPaths ?? 1_000;
    this.publish = publish;
    this.held = new HeldChanges(maxPaths);
    const coalescer = new ChangeCoalescer({
      debounceMs: options.debounceMs ?? 200,
      maxWaitMs: options.maxWaitMs ?? 2_000,
      maxPaths,
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

  /** Closes the watchers and publishes the changes seen up to then (held ones get a last try). */
  stopped(): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.all(this.watches.map((watch) => watch.close()));
      this.coalescer?.flushNow();
      await this.publishing;
      this.retryTimer?.();
      const { held } = this;
      if (held === undefined || held.isEmpty) return;
      this.publishing = this.publishing.then(() => this.publishHeld());
      await this.publishing;
      if (held.isEmpty) return;
      const { changes, bursts, omitted } = held.peek();
      this.options.log.error(
        { source: this.name, bursts, paths: changes.length, omitted },
        'stopping while the route backlog is still full: these held changes are not reported',
      );
    })();
    return this.stopping;
  }

  private enqueue(publish: Publish, changes: FileChange[]): void {
    this.publishing = this.publishing.then(async () => {
      const { held } = this;
      // Behind held bursts, a burst joins them: order is kept, and one event reports them all.
      if (held !== undefined && !held.isEmpty) {
        held.add(changes);
        return this.publishHeld();
      }
      const event = this.event(changes);
      try {
        await publish([event]);
      } catch (error) {
        if (isBacklogFull(error) && held !== undefined) {
          held.add(changes);
          this.options.log.warn(
            { source: this.name, routes: error.routes, paths: changes.length },
            'fs.changed held back while the route backlog is full: further changes are merged ' +
              'into one event, published when there is room',
          );
          return this.retryLater(error);
        }
        this.options.log.error(
          { source: this.name, eventId: event.id, paths: changes.length, err: error },
          'could not publish fs.changed: these changes are not reported',
        );
      }
    });
  }

  /** Offers the held bursts as one event; on a refusal they stay held for the next try. */
  private async publishHeld(): Promise<void> {
    const { held, publish } = this;
    if (held === undefined || held.isEmpty || publish === undefined) return;
    const merged = held.peek();
    // Changes that cancelled out (a file added, then removed) leave nothing to report.
    if (merged.changes.length === 0 && merged.omitted === 0) return held.clear();
    const event = this.event(merged.changes, merged);
    try {
      await publish([event]);
    } catch (error) {
      if (isBacklogFull(error)) return this.retryLater(error);
      held.clear();
      this.options.log.error(
        { source: this.name, eventId: event.id, bursts: merged.bursts, err: error },
        'could not publish fs.changed: these held changes are not reported',
      );
      return;
    }
    held.clear();
    this.options.log.info(
      {
        source: this.name,
        eventId: event.id,
        bursts: merged.bursts,
        paths: merged.changes.length,
        omitted: merged.omitted,
      },
      `published ${merged.bursts} held bursts of file changes as one fs.changed`,
    );
  }

  private retryLater(error: BacklogFullError): void {
    const held = this.held?.peek();
    this.options.log.debug(
      {
        source: this.name,
        bursts: held?.bursts,
        paths: held?.changes.length,
        omitted: held?.omitted,
      },
      `fs.changed still held back; offered again in ${error.retryAfterSeconds} s`,
    );
    if (this.stopping !== undefined) return;
    this.retryTimer?.();
    this.retryTimer = (this.options.clock ?? systemClock).setTimer(() => {
      this.retryTimer = undefined;
      this.publishing = this.publishing.then(() => this.publishHeld());
      return this.publishing;
    }, error.retryAfterMs ?? 1_000);
  }

  private event(changes: FileChange[], held?: HeldBursts): AgentdEvent {
    const data: FsChangedData = {
      watch: this.name,
      base: this.options.baseDir,
      changes,
      ...(held === undefined ? {} : { coalesced: held.bursts }),
      ...(held === undefined || held.omitted === 0 ? {} : { omitted: held.omitted }),
    };
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

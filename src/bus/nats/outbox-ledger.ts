// The outbox bucket's entries as this package changes them: recorded once per idempotency key,
// moved from state to state only by compare-and-set, and the events of a state change published
// after it (kept in the entry until they are out, so a process that dies in between leaves them
// for any other's sweep). Finished actions are swept after the retention time.
import type { AgentdEvent } from '../../core/envelope.js';
import type { RecordedAction } from '../outbox-store.js';
import type { KvBucket } from './kv-bucket.js';
import type { NatsStore } from './nats-store.js';
import { actionKey, newEntry, withoutAnnounce, type ActionEntry } from './outbox-entry.js';
import { OutboxView } from './outbox-view.js';

export interface LedgerHost {
  readonly store: NatsStore;
  publishInternal(events: readonly AgentdEvent[]): Promise<void>;
  reportError(error: unknown, context: Record<string, unknown>): void;
}

/** Events of a state change not out after this long are published again (deduplicated by id). */
const ANNOUNCE_GRACE_MS = 10_000;
const SWEEP_MS = 5_000;
const CAS_TRIES = 4;

export class OutboxLedger {
  readonly bucket: KvBucket;
  readonly view: OutboxView;
  private readonly listeners: Array<() => void> = [];
  private sweeper: NodeJS.Timeout | undefined;
  private nextRetentionSweep = 0;

  constructor(private readonly host: LedgerHost) {
    this.bucket = host.store.outbox;
    this.view = new OutboxView(
      host.store,
      this.bucket,
      () => this.changed(),
      (error, context) => host.reportError(error, context),
    );
  }

  /** Records a run's staged actions: one create() each, so a key recorded before is dropped. */
  async record(actions: readonly RecordedAction[], at: number): Promise<void> {
    if (actions.length === 0) return;
    const added = await Promise.all(
      actions.map(async (action, order) => {
        const entry = newEntry(action, at, order);
        const revision = await this.bucket.create(actionKey(entry.id), entry);
        if (revision > 0) {
          if (this.view.watching) this.view.put(entry.id, entry, revision);
          return true;
        }
        const existing = await this.bucket.get<ActionEntry>(actionKey(entry.id));
        if (existing !== undefined && existing.value.key !== action.key)
          this.host.reportError(
            new Error(
              `outbox: actions ${existing.value.key} and ${action.key} share id ${entry.id}; the later was not recorded`,
            ),
            { route: action.route, runId: action.runId },
          );
        return false;
      }),
    );
    if (added.includes(true)) this.changed();
  }

  /** Loads the view (once) and starts sweeping. */
  async opened(): Promise<void> {
    await this.view.open();
    if (this.sweeper !== undefined) return;
    this.sweeper = setInterval(() => {
      this.sweep().catch((error: unknown) =>
        this.host.reportError(error, { what: 'outbox sweep' }),
      );
    }, SWEEP_MS);
    this.sweeper.unref();
  }

  /** Compare-and-set on one entry, reading it again when the view was behind. */
  async transition(
    id: string,
    guard: (entry: ActionEntry) => boolean,
    change: (entry: ActionEntry) => ActionEntry,
  ): Promise<ActionEntry | undefined> {
    const key = actionKey(id);
    let current = this.view.get(id) ?? (await this.bucket.get<ActionEntry>(key));
    for (let i = 0; i < CAS_TRIES && current !== undefined; i++) {
      if (!guard(current.value)) {
        // The view may be behind: only a fresh read may say no.
        const fresh = await this.bucket.get<ActionEntry>(key);
        if (fresh === undefined || fresh.revision === current.revision || !guard(fresh.value))
          return undefined;
        current = fresh;
      }
      const next = change(current.value);
      const revision = await this.bucket.swap(key, next, current.revision);
      if (revision > 0) {
        if (this.view.watching) this.view.put(id, next, revision);
        return next;
      }
      current = await this.bucket.get<ActionEntry>(key);
    }
    return undefined;
  }

  /** Publishes a state change's events, then drops them from the entry (a sweep retries). */
  async announce(entry: ActionEntry): Promise<void> {
    const events = entry.announce;
    if (events === undefined) return;
    try {
      await this.host.publishInternal(events);
      await this.transition(
        entry.id,
        (e) => e.announce !== undefined && e.updatedAt === entry.updatedAt,
        (e) => withoutAnnounce(e),
      );
    } catch (error) {
      this.host.reportError(error, { what: 'outbox event', actionId: entry.id });
    }
  }

  private async sweep(): Promise<void> {
    const now = Date.now();
    for (const { value } of [...this.view.all()])
      if (value.announce !== undefined && value.updatedAt < now - ANNOUNCE_GRACE_MS)
        await this.announce(value);
    const retentionMs = this.host.store.retentionMs;
    if (retentionMs <= 0 || now < this.nextRetentionSweep) return;
    this.nextRetentionSweep = now + 60_000;
    // Finished actions go after the retention time, as on SQLite; open and dead ones stay.
    const cutoff = now - retentionMs;
    for (const found of [...this.view.all()]) {
      const { value } = found;
      if (value.state === 'dead' || value.finishedAt === null || value.finishedAt >= cutoff)
        continue;
      if (await this.bucket.purgeAt(actionKey(value.id), found.revision))
        this.view.remove(value.id, found.revision);
    }
  }

  onChange(callback: () => void): void {
    this.listeners.push(callback);
  }

  changed(): void {
    for (const listener of this.listeners) listener();
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await this.view.close();
  }
}

// Every recorded outbox action as this process last saw it: a KV watch over the outbox bucket keeps
// the view current, and this process's own writes enter it at once. The view only decides what to
// try; every change is still a compare-and-set on the entry's revision, so a stale view can make a
// claim fail, never make two dispatchers send one action.
import type { KvWatchEntry } from '@nats-io/kv';
import type { KvBucket, Versioned } from './kv-bucket.js';
import { watchKeys, type KeyWatch } from './kv-watch.js';
import type { NatsStore } from './nats-store.js';
import { OPEN_STATES, type ActionEntry } from './outbox-entry.js';

export class OutboxView {
  private readonly entries = new Map<string, Versioned<ActionEntry>>();
  /** Ids of entries in an open state (pending, sending, pending-approval). */
  private readonly openIds = new Set<string>();
  private ready: Promise<void> | undefined;
  /** Set once open() was called: until then this process keeps no copy of the bucket. */
  watching = false;
  private watch: KeyWatch | undefined;

  constructor(
    private readonly store: NatsStore,
    private readonly bucket: KvBucket,
    /** Told of every change seen (another process recorded, claimed or settled something). */
    private readonly changed: () => void,
    private readonly onError: (error: unknown, context: Record<string, unknown>) => void,
  ) {}

  /** Starts watching on first use; resolves once the bucket's entries are loaded. */
  open(): Promise<void> {
    this.watching = true;
    this.ready ??= this.start();
    return this.ready;
  }

  get(id: string): Versioned<ActionEntry> | undefined {
    return this.entries.get(id);
  }

  all(): IterableIterator<Versioned<ActionEntry>> {
    return this.entries.values();
  }

  *openEntries(): Generator<Versioned<ActionEntry>> {
    for (const id of this.openIds) {
      const found = this.entries.get(id);
      if (found !== undefined) yield found;
    }
  }

  /** Takes a write of this process into the view (the watch repeats it later; newer wins). */
  put(id: string, entry: ActionEntry, revision: number): void {
    const known = this.entries.get(id);
    if (known !== undefined && known.revision >= revision) return;
    this.entries.set(id, { value: entry, revision });
    if (OPEN_STATES.has(entry.state)) this.openIds.add(id);
    else this.openIds.delete(id);
  }

  remove(id: string, revision: number): void {
    const known = this.entries.get(id);
    if (known !== undefined && known.revision > revision) return;
    this.entries.delete(id);
    this.openIds.delete(id);
  }

  async close(): Promise<void> {
    await this.watch?.stop();
  }

  private async start(): Promise<void> {
    const bucket = this.store.names.outboxBucket;
    this.watch = await watchKeys(this.store, bucket, this.bucket.kv, 'a.>', (entry) =>
      this.apply(entry),
    );
  }

  private apply(entry: KvWatchEntry): void {
    const id = entry.key.slice(2);
    if (entry.operation !== 'PUT') {
      this.remove(id, entry.revision);
    } else {
      try {
        this.put(id, entry.json<ActionEntry>(), entry.revision);
      } catch (error) {
        this.onError(error, { what: 'outbox entry', key: entry.key });
        return;
      }
    }
    if (entry.isUpdate) this.changed();
  }
}

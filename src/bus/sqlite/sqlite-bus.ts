// SqliteBus: the embedded Bus on one SQLite file in WAL mode. All writes go through one connection
// and are group-committed; consumers are woken in-process on commit and across processes by
// watching PRAGMA data_version. Every time the bus reads (availability, leases, debounce and batch
// windows) comes from its Clock, so tests drive it with a manual one.
import type Database from 'better-sqlite3';
import { resolve } from 'node:path';
import { systemClock, type Clock } from '../../core/clock.js';
import type { AgentdEvent } from '../../core/envelope.js';
import type { IngestGate } from '../../core/ingest-gate.js';
import { newEventId } from '../../core/ids.js';
import { compilePatterns } from '../../core/type-pattern.js';
import { dlqAddedEvent, shouldAnnounce } from '../dlq-announcement.js';
import type {
  Bus,
  CancelListener,
  DeadLetterQueue,
  PublishOptions,
  PublishResult,
  Subscription,
  SubscriptionOptions,
} from '../bus.js';
import type { RecordedAction } from '../outbox-store.js';
import { AckBatch } from './ack-batch.js';
import { BacklogCounter } from './backlog-sql.js';
import { CancelNotices } from './cancel-notices.js';
import { ChangeWatch } from './change-watch.js';
import { publishThroughGate } from './gated-publish.js';
import { governorSpecOf } from './governor-spec.js';
import { GroupCommit } from './group-commit.js';
import { LeaseSweeper } from './lease-sweep.js';
import { outboxStatements, type OutboxStatements } from './outbox-sql.js';
import { quarantineStatements } from './quarantine-sql.js';
import { openDatabase, type Durability } from './schema.js';
import type { SettledRow } from './settle-sql.js';
import { SqliteDeadLetterQueue } from './sqlite-dlq.js';
import { SqliteOutbox, type OutboxHost } from './sqlite-outbox.js';
import { SqliteQuarantine } from './sqlite-quarantine.js';
import { buildStatements, type SqliteStatements } from './sqlite-statements.js';
import { SqliteSubscription, type SubscriptionHost } from './sqlite-subscription.js';
import { SubscriptionRegistry } from './subscription-registry.js';
import { WalSync } from './wal-sync.js';

export type { SqliteStatements } from './sqlite-statements.js';
export { WAL_AUTOCHECKPOINT_PAGES } from './wal-sync.js';

export interface SqliteBusOptions {
  /** Database file, e.g. `.agentd/agentd.db`; ':memory:' for throwaway tests. */
  path: string;
  durability?: Durability;
  /** The `source` of events the bus itself publishes (agentd.dlq.added). */
  source?: string;
  /** Acked history older than this is deleted. Default 7 days. 0 keeps everything. */
  retentionMs?: number;
  /** Checks each event's data against its type's contract; refused events are quarantined. */
  gate?: IngestGate;
  /** How often (on the bus clock) lease and wait-deadline sweeps run. */
  sweepIntervalMs?: number;
  /** How often other processes' commits are looked for while a consumer waits (real time). */
  pollIntervalMs?: number;
  /** The time deliveries are scheduled by. Default the system clock. */
  clock?: Clock;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const RETENTION_SWEEP_MS = 60_000;

export class SqliteBus implements Bus, SubscriptionHost, OutboxHost {
  readonly db: Database.Database;
  readonly commit: GroupCommit;
  readonly sql: SqliteStatements;
  readonly dlq: DeadLetterQueue;
  readonly quarantine: SqliteQuarantine;
  readonly gate: IngestGate | undefined;
  readonly outbox: SqliteOutbox;
  readonly outboxSql: OutboxStatements;
  readonly clock: Clock;
  readonly acks: AckBatch;
  private outboxChanged = false;
  private readonly registry: SubscriptionRegistry;
  private readonly subscriptions = new Map<string, SubscriptionOptions>();
  private readonly leases: LeaseSweeper;
  private readonly backlogCounter: BacklogCounter;
  private readonly cancelNotices: CancelNotices;
  private readonly changes: ChangeWatch;
  private readyChanged = false;
  private readonly source: string;
  private readonly retentionMs: number;
  private sweeper: NodeJS.Timeout | undefined;
  private readonly walSync: WalSync | undefined;
  private closed = false;

  constructor(options: SqliteBusOptions) {
    this.db = openDatabase(
      options.path,
      options.durability ? { durability: options.durability } : {},
    );
    this.clock = options.clock ?? systemClock;
    this.source = options.source ?? 'agentd://local';
    this.retentionMs = options.retentionMs ?? 7 * DAY_MS;
    this.registry = new SubscriptionRegistry(this.db);
    this.sql = buildStatements(this.db, {
      targetOf: (name) => this.registry.target(name),
      onCancelRequested: () => this.cancelNotices.markAsked(),
    });
    this.cancelNotices = new CancelNotices(() => this.sql.cancels.pending());
    this.outboxSql = outboxStatements(this.db);
    this.outbox = new SqliteOutbox(this);
    this.commit = new GroupCommit(this.db);
    this.acks = new AckBatch(this);
    this.commit.onCommit(() => this.afterCommit());
    if (this.db.pragma('journal_mode', { simple: true }) === 'wal') {
      const walSync = new WalSync(this.db, `${resolve(options.path)}-wal`);
      this.commit.onCommit(() => walSync.schedule());
      this.walSync = walSync;
    }
    this.dlq = new SqliteDeadLetterQueue(this);
    this.gate = options.gate;
    this.quarantine = new SqliteQuarantine(this, quarantineStatements(this.db));
    this.backlogCounter = new BacklogCounter(this.db);
    this.leases = new LeaseSweeper(this, options.sweepIntervalMs ?? 1_000, this.clock.now());
    this.registry.load();
    this.changes = new ChangeWatch(this.db, this.clock, options.pollIntervalMs ?? 50, () => {
      if (!this.closed) this.cancelNotices.notify();
    });
    this.sweeper = setInterval(() => this.sweepRetention(), RETENTION_SWEEP_MS);
    this.sweeper.unref();
  }

  async publish(
    events: readonly AgentdEvent[],
    options: PublishOptions = {},
  ): Promise<PublishResult[]> {
    this.assertOpen();
    if (events.length === 0) return [];
    const delay = Math.max(0, options.delayMs ?? 0);
    return this.write(() => {
      const now = this.clock.now();
      return this.ingest(events, now + delay, now);
    });
  }

  async subscribe(name: string, options: SubscriptionOptions): Promise<Subscription> {
    this.assertOpen();
    if (name.length === 0) throw new Error('subscription name must not be empty');
    compilePatterns(options.types);
    const spec = governorSpecOf(name, options);
    await this.write(() => {
      this.registry.store(name, options, spec, this.clock.now());
      if (spec?.fairness !== undefined) this.sql.fair.adopt(name);
      if (spec?.batch === undefined) this.sql.batches.dissolve(name, this.clock.now());
    });
    this.subscriptions.set(name, options);
    this.registry.load();
    return new SqliteSubscription(this, name, options);
  }

  async retainSubscriptions(names: readonly string[]): Promise<void> {
    const keep = new Set(names);
    await this.write(() => this.registry.retainOnly(keep, this.clock.now()));
    this.registry.load();
  }

  hasSubscribers(type: string): boolean {
    return this.registry.looksAt(type);
  }

  subscribersOf(type: string): readonly string[] {
    return this.registry.deliversTo(type);
  }

  async backlogs(): Promise<ReadonlyMap<string, number>> {
    this.assertOpen();
    return Promise.resolve(this.activeOnly(this.backlogCounter.recent()));
  }

  /** backlogs() counted now, not cached. */
  countBacklogs(): ReadonlyMap<string, number> {
    return this.activeOnly(this.backlogCounter.read());
  }

  /**
   * Takes back every lease at once. Only for a daemon that holds the data directory's lock and so
   * knows that whoever held these leases is gone (a crash): no need to wait for them to expire.
   */
  async recoverLeases(): Promise<number> {
    return this.write(() => this.leases.recover(this.clock.now()));
  }

  // --- SubscriptionHost: what subscriptions and deliveries need from the bus ---

  now(): number {
    return this.clock.now();
  }

  write<T>(fn: () => T): Promise<T> {
    this.assertOpen();
    return this.commit.run(fn);
  }

  publishInTxn(events: readonly AgentdEvent[], now: number): void {
    this.ingest(events, now, now);
  }

  /** Inside a write: stores events the gate already admitted (a quarantine replay). */
  publishAdmittedInTxn(events: readonly AgentdEvent[], now: number): PublishResult[] {
    this.readyChanged = true;
    return this.store(events, now, now);
  }

  /** Runs inside a write: records outbox actions (known keys are dropped) and wakes the dispatcher. */
  recordActionsInTxn(actions: readonly RecordedAction[], now: number): void {
    for (const action of actions) if (this.outboxSql.record(action, now)) this.outboxChanged = true;
  }

  waitsFor(type: string): boolean {
    return this.sql.waits.waitsFor(type);
  }

  read<T>(fn: () => T): T {
    this.assertOpen();
    return fn();
  }

  markReadyChanged(): void {
    this.readyChanged = true;
  }

  /** Runs inside a write: takes back expired leases and wait deadlines, once per sweep interval. */
  sweepLeasesIfDue(now: number): void {
    this.leases.sweepIfDue(now);
  }

  endedInTxn(
    id: number,
    row: SettledRow,
    state: 'acked' | 'skipped' | 'cancelled',
    reason: string | null,
    batched: boolean,
    now: number,
  ): void {
    if (batched) this.sql.batches.end(id, state, reason, now);
    if (row.pkey === null) return;
    this.sql.keys.advance(row.sub, row.pkey, now);
    this.readyChanged = true;
  }

  /** Runs inside a write: the settled row (and its batch) dead-lettered, its key advanced, each announced. */
  deadLetterInTxn(
    row: SettledRow,
    event: AgentdEvent,
    deliveryId: number,
    attempts: number,
    reason: string,
    batched: boolean,
    now: number,
  ): void {
    if (row.pkey !== null) this.sql.keys.advance(row.sub, row.pkey, now);
    this.readyChanged = true;
    this.announceDead(event, deliveryId, row.sub, attempts, reason, now);
    if (!batched) return;
    for (const member of this.sql.batches.dead(deliveryId, reason, now)) {
      const envelope = this.sql.claims.envelope(member.seq);
      if (envelope !== undefined)
        this.announceDead(
          JSON.parse(envelope) as AgentdEvent,
          member.id,
          row.sub,
          attempts,
          reason,
          now,
        );
    }
  }

  /** True when the subscription (per its stored row) groups deliveries into batches. */
  batches(sub: string): boolean {
    return this.subscriptions.get(sub)?.batch !== undefined || this.registry.batches(sub);
  }

  subscriptionOptions(sub: string): SubscriptionOptions | undefined {
    return this.subscriptions.get(sub);
  }

  nextWakeAt(name: string): number | undefined {
    const ready = this.sql.claims.nextAvailableAt(name);
    const sweeps = this.leases.nextSweepAt(name);
    const times = [ready, sweeps].filter((t): t is number => t !== undefined);
    return times.length === 0 ? undefined : Math.min(...times);
  }

  waitForChange(
    ms: number,
    wakeAt: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    return this.changes.wait(ms, wakeAt, signal);
  }

  addCancelListener(sub: string, listener: CancelListener): () => void {
    return this.cancelNotices.add(sub, listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.commit.flush();
    clearInterval(this.sweeper);
    this.walSync?.stop();
    this.changes.stop();
    this.db.close();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Deletes finished history past the retention window; returns how many events went. */
  sweepRetention(): number {
    if (this.closed) return 0;
    // Governor bookkeeping that no queued delivery needs any more, whatever the retention.
    this.db
      .transaction(() => {
        this.sql.fair.sweep();
        this.sql.governed.sweep();
      })
      .immediate();
    if (this.retentionMs <= 0) return 0;
    const cutoff = this.clock.now() - this.retentionMs;
    let total = 0;
    for (;;) {
      const n = this.db.transaction(() => this.sql.retention.sweep(cutoff, 1_000)).immediate();
      total += n;
      if (n < 1_000) break;
    }
    // Finished outbox actions go after the same time; open and dead ones stay.
    const sweepOutbox = this.db.transaction(() => this.outboxSql.sweep(cutoff, 1_000));
    while (sweepOutbox.immediate() === 1_000);
    return total;
  }

  /** Inside a write: stores what the gate admits, quarantines what it refuses. */
  private ingest(
    events: readonly AgentdEvent[],
    availableAt: number,
    now: number,
  ): PublishResult[] {
    this.readyChanged = true;
    if (this.gate === undefined) return this.store(events, availableAt, now);
    return publishThroughGate(
      this.gate,
      events,
      (admitted) => this.store(admitted, availableAt, now),
      (event, refusal) => this.quarantine.addInTxn(event, refusal, now),
    );
  }

  private store(events: readonly AgentdEvent[], availableAt: number, now: number): PublishResult[] {
    const results = this.sql.publisher.publish(events, this.registry.active, availableAt, now);
    // Wakes the deliveries waiting for what was just stored (duplicates wake nobody).
    const stored = events.filter((_, i) => results[i]?.duplicate === false);
    if (this.sql.waits.resolve(stored, now) > 0) this.readyChanged = true;
    return results;
  }

  private announceDead(
    event: AgentdEvent,
    deliveryId: number,
    sub: string,
    attempts: number,
    reason: string,
    now: number,
  ): void {
    if (!shouldAnnounce(event, (type) => this.hasSubscribers(type))) return;
    const announcement = dlqAddedEvent({
      id: newEventId(),
      source: this.source,
      time: new Date(now).toISOString(),
      event,
      deliveryId: String(deliveryId),
      subscription: sub,
      attempts,
      reason,
    });
    this.publishInTxn([announcement], now);
  }

  private afterCommit(): void {
    if (this.outboxChanged) {
      this.outboxChanged = false;
      this.outbox.changed();
    }
    this.cancelNotices.afterCommit();
    if (!this.readyChanged) return;
    this.readyChanged = false;
    this.changes.wakeAll();
  }

  private activeOnly(counts: ReadonlyMap<string, number>): Map<string, number> {
    return new Map(this.registry.active.map(({ name }) => [name, counts.get(name) ?? 0]));
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the bus is closed');
  }
}

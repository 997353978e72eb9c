// SqliteBus: the embedded Bus on one SQLite file in WAL mode. All writes go through one connection
// and are group-committed; consumers are woken in-process on commit and across processes by
// watching PRAGMA data_version.
import type Database from 'better-sqlite3';
import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { AgentdEvent } from '../../core/envelope.js';
import type { IngestGate } from '../../core/ingest-gate.js';
import { newEventId } from '../../core/ids.js';
import { dlqAddedEvent, shouldAnnounce } from '../dlq-announcement.js';
import { compilePatterns } from '../../core/type-pattern.js';
import {
  backoffDelay,
  type Bus,
  type DeadLetterQueue,
  type PublishOptions,
  type PublishResult,
  type Subscription,
  type SubscriptionOptions,
} from '../bus.js';
import { claimStatements, type ClaimStatements, type ExpiredLease } from './claim-sql.js';
import { dlqStatements, type DlqStatements } from './dlq-sql.js';
import { publishThroughGate } from './gated-publish.js';
import { GroupCommit } from './group-commit.js';
import { keyOrderStatements, type KeyOrder } from './key-order-sql.js';
import { outboxStatements, type OutboxStatements } from './outbox-sql.js';
import { publishStatements, type FanoutTarget, type Publisher } from './publish-sql.js';
import { quarantineStatements } from './quarantine-sql.js';
import { retentionStatements, type RetentionStatements } from './retention-sql.js';
import { openDatabase, type Durability } from './schema.js';
import { settleStatements, type SettleStatements, type SettledRow } from './settle-sql.js';
import { SqliteDeadLetterQueue } from './sqlite-dlq.js';
import { SqliteQuarantine } from './sqlite-quarantine.js';
import { SqliteOutbox, type OutboxHost } from './sqlite-outbox.js';
import { SqliteSubscription, type SubscriptionHost } from './sqlite-subscription.js';
import { stepStatements, type StepStatements } from './steps-sql.js';
import { waitStatements, type WaitStatements } from './wait-sql.js';
import type { RecordedAction } from '../outbox-store.js';

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
  /** How often retention and lease sweeps run. */
  sweepIntervalMs?: number;
  /** How often other processes' commits are looked for while a consumer waits. */
  pollIntervalMs?: number;
}

export interface SqliteStatements {
  keys: KeyOrder;
  publisher: Publisher;
  claims: ClaimStatements;
  settle: SettleStatements;
  dlq: DlqStatements;
  steps: StepStatements;
  retention: RetentionStatements;
  waits: WaitStatements;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const RETENTION_SWEEP_MS = 60_000;
// A checkpoint (copying the WAL back into the database file) fsyncs the WAL and then the database
// on the event loop's thread: with SQLite's default trigger, every 1,000 pages, that is a stall of
// milliseconds several times a second under steady traffic. Instead, the WAL is fdatasync'ed in
// the background every WAL_SYNC_INTERVAL_MS, so little is left for the checkpoint's own fsync, and
// a checkpoint runs about once a second; SQLite's trigger stays only as a ceiling on the WAL.
const WAL_SYNC_INTERVAL_MS = 200;
const CHECKPOINT_INTERVAL_MS = 1_000;
export const WAL_AUTOCHECKPOINT_PAGES = 10_000;

export class SqliteBus implements Bus, SubscriptionHost, OutboxHost {
  readonly db: Database.Database;
  readonly commit: GroupCommit;
  readonly sql: SqliteStatements;
  readonly dlq: DeadLetterQueue;
  readonly quarantine: SqliteQuarantine;
  readonly gate: IngestGate | undefined;
  readonly outbox: SqliteOutbox;
  readonly outboxSql: OutboxStatements;
  private outboxChanged = false;
  private targets: FanoutTarget[] = [];
  private readonly subscriptions = new Map<string, SubscriptionOptions>();
  private readonly waiters = new Set<() => void>();
  private readyChanged = false;
  private readonly source: string;
  private readonly retentionMs: number;
  private readonly pollIntervalMs: number;
  private readonly sweepIntervalMs: number;
  private nextLeaseSweep = 0;
  private dataVersion = 0;
  private poller: NodeJS.Timeout | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private walSyncer: NodeJS.Timeout | undefined;
  private readonly walPath: string | undefined;
  private syncedChanges = 0;
  private checkpointedChanges = 0;
  private lastCheckpoint = 0;
  private closed = false;
  private readonly openedAt = Date.now();

  constructor(options: SqliteBusOptions) {
    this.db = openDatabase(
      options.path,
      options.durability ? { durability: options.durability } : {},
    );
    this.source = options.source ?? 'agentd://local';
    this.retentionMs = options.retentionMs ?? 7 * DAY_MS;
    this.pollIntervalMs = options.pollIntervalMs ?? 50;
    this.sweepIntervalMs = options.sweepIntervalMs ?? 1_000;
    const keys = keyOrderStatements(this.db);
    const steps = stepStatements(this.db);
    this.sql = {
      keys,
      publisher: publishStatements(this.db, keys),
      claims: claimStatements(this.db),
      settle: settleStatements(this.db),
      dlq: dlqStatements(this.db, keys),
      steps,
      retention: retentionStatements(this.db),
      waits: waitStatements(this.db, steps),
    };
    this.outboxSql = outboxStatements(this.db);
    this.outbox = new SqliteOutbox(this);
    this.commit = new GroupCommit(this.db);
    this.commit.onCommit(() => {
      if (this.outboxChanged) {
        this.outboxChanged = false;
        this.outbox.changed();
      }
      if (!this.readyChanged) return;
      this.readyChanged = false;
      this.wakeAll();
    });
    if (this.db.pragma('journal_mode', { simple: true }) === 'wal') {
      this.walPath = `${resolve(options.path)}-wal`;
      this.db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
      this.commit.onCommit(() => this.scheduleWalSync());
    }
    this.dlq = new SqliteDeadLetterQueue(this);
    this.gate = options.gate;
    this.quarantine = new SqliteQuarantine(this, quarantineStatements(this.db));
    this.loadTargets();
    this.dataVersion = this.readDataVersion();
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
      const now = Date.now();
      return this.ingest(events, now + delay, now);
    });
  }

  async subscribe(name: string, options: SubscriptionOptions): Promise<Subscription> {
    this.assertOpen();
    if (name.length === 0) throw new Error('subscription name must not be empty');
    compilePatterns(options.types);
    await this.write(() => {
      this.db
        .prepare(
          `INSERT INTO subscriptions (name, types, ordering, active, updated_at) VALUES (?, ?, ?, 1, ?)
           ON CONFLICT (name) DO UPDATE SET types = excluded.types, ordering = excluded.ordering,
             active = 1, updated_at = excluded.updated_at`,
        )
        .run(name, JSON.stringify(options.types), options.ordering, Date.now());
    });
    this.subscriptions.set(name, options);
    this.loadTargets();
    return new SqliteSubscription(this, name, options);
  }

  async retainSubscriptions(names: readonly string[]): Promise<void> {
    const keep = new Set(names);
    await this.write(() => {
      const deactivate = this.db.prepare(
        `UPDATE subscriptions SET active = 0, updated_at = ? WHERE name = ?`,
      );
      for (const target of this.targets)
        if (!keep.has(target.name)) deactivate.run(Date.now(), target.name);
    });
    this.loadTargets();
  }

  hasSubscribers(type: string): boolean {
    return this.targets.some((target) => target.matches(type));
  }

  /**
   * Takes back every lease at once. Only for a daemon that holds the data directory's lock and so
   * knows that whoever held these leases is gone (a crash): no need to wait for them to expire.
   */
  async recoverLeases(): Promise<number> {
    return this.write(() => {
      // Only leases taken before this bus opened: the worker may already hold fresh ones.
      const all = this.db
        .prepare<[number], ExpiredLease>(
          `SELECT id, sub, seq, pkey, attempt FROM deliveries
            WHERE state = 'leased' AND coalesce(started_at, 0) < ?`,
        )
        .all(this.openedAt);
      for (const lease of all)
        this.expireLease(lease, Date.now(), 'worker stopped without settling (recovered at start)');
      return all.length;
    });
  }

  // --- SubscriptionHost: what subscriptions and deliveries need from the bus ---

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
    const results = this.sql.publisher.publish(events, this.targets, availableAt, now);
    this.resolveWaits(events, results, now);
    return results;
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

  /** Runs inside a write: takes back leases that expired, at most once per sweep interval. */
  sweepLeasesIfDue(now: number): void {
    if (now < this.nextLeaseSweep) return;
    this.nextLeaseSweep = now + this.sweepIntervalMs;
    // Waits past their deadline resume their runs, which then see the timeout.
    if (this.sql.waits.expire(now, 500) > 0) this.readyChanged = true;
    for (const lease of this.sql.claims.expiredLeases(now, 500)) {
      this.expireLease(
        lease,
        now,
        'lease expired: the worker crashed or stalled without extending it',
      );
    }
  }

  /** Runs inside a write: dead-letters a settled row, advances its key, announces it. */
  deadLetterInTxn(
    row: SettledRow,
    event: AgentdEvent,
    deliveryId: number,
    attempts: number,
    reason: string,
    now: number,
  ): void {
    if (row.pkey !== null) this.sql.keys.advance(row.sub, row.pkey, now);
    this.readyChanged = true;
    if (!shouldAnnounce(event, (type) => this.hasSubscribers(type))) return;
    const announcement = dlqAddedEvent({
      id: newEventId(),
      source: this.source,
      time: new Date(now).toISOString(),
      event,
      deliveryId: String(deliveryId),
      subscription: row.sub,
      attempts,
      reason,
    });
    this.publishInTxn([announcement], now);
  }

  nextWakeAt(name: string): number | undefined {
    const ready = this.sql.claims.nextAvailableAt(name);
    const expiry = this.sql.claims.nextLeaseExpiry();
    // Expired leases are only swept once per interval (and strictly after lease_until): waking
    // earlier would spin on an empty claim.
    const lease = expiry === undefined ? undefined : Math.max(expiry + 1, this.nextLeaseSweep);
    // A wait's deadline is swept with the leases: its run resumes (to time out) then.
    const deadline = this.sql.waits.nextDeadline(name);
    const sweep = deadline === undefined ? undefined : Math.max(deadline, this.nextLeaseSweep);
    const times = [ready, lease, sweep].filter((t): t is number => t !== undefined);
    return times.length === 0 ? undefined : Math.min(...times);
  }

  /** Resolves on the next relevant commit (ours or another process's), or when `ms` pass. */
  waitForChange(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
      this.startPolling();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.commit.flush();
    clearInterval(this.sweeper);
    clearTimeout(this.walSyncer);
    this.stopPolling();
    this.wakeAll();
    this.db.close();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Deletes finished history past the retention window; returns how many events went. */
  sweepRetention(): number {
    if (this.closed || this.retentionMs <= 0) return 0;
    const cutoff = Date.now() - this.retentionMs;
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

  private scheduleWalSync(): void {
    if (this.walSyncer !== undefined || this.closed) return;
    this.walSyncer = setTimeout(() => void this.syncWal(), WAL_SYNC_INTERVAL_MS);
    this.walSyncer.unref();
  }

  private async syncWal(): Promise<void> {
    // Idle consumers commit empty claims every second: no change, nothing to sync or checkpoint.
    const changes = this.totalChanges();
    if (changes !== this.syncedChanges) {
      this.syncedChanges = changes;
      try {
        // On libuv's pool, off the event loop. Purely extra syncing: no guarantee relies on it.
        // SQLite locks the database and -shm files, never the WAL, so closing this descriptor
        // cannot drop its POSIX locks.
        const wal = await open(this.walPath as string, 'r+');
        await wal.datasync().finally(() => wal.close());
      } catch {
        // No WAL file right now, or no background sync here: the checkpoint syncs all the same.
      }
    }
    this.walSyncer = undefined;
    const now = Date.now();
    if (this.closed || changes === this.checkpointedChanges) return;
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

  private expireLease(lease: ExpiredLease, now: number, message: string): void {
    const options = this.subscriptions.get(lease.sub);
    const maxAttempts = options?.maxAttempts ?? Number.POSITIVE_INFINITY;
    const record = JSON.stringify({
      attempt: lease.attempt,
      at: new Date(now).toISOString(),
      error: message,
    });
    if (lease.attempt >= maxAttempts) {
      const row = this.sql.settle.dead(
        lease.id,
        lease.attempt,
        `${message} (attempt ${lease.attempt} of ${maxAttempts})`,
        record,
        now,
      );
      if (row === undefined) return;
      const envelope = this.db
        .prepare<[number], { envelope: string }>(`SELECT envelope FROM events WHERE seq = ?`)
        .get(row.seq);
      if (envelope !== undefined) {
        this.deadLetterInTxn(
          row,
          JSON.parse(envelope.envelope) as AgentdEvent,
          lease.id,
          lease.attempt,
          message,
          now,
        );
      }
      return;
    }
    const delay = options === undefined ? 0 : backoffDelay(options.backoff, lease.attempt);
    if (this.sql.settle.retry(lease.id, lease.attempt, now + delay, record))
      this.readyChanged = true;
  }

  /** Wakes the deliveries waiting for what was just stored (duplicates wake nobody). */
  private resolveWaits(
    events: readonly AgentdEvent[],
    results: readonly PublishResult[],
    now: number,
  ): void {
    const stored = events.filter((_, i) => results[i]?.duplicate === false);
    if (this.sql.waits.resolve(stored, now) > 0) this.readyChanged = true;
  }

  private loadTargets(): void {
    const rows = this.db
      .prepare<[], { name: string; types: string; ordering: string }>(
        `SELECT name, types, ordering FROM subscriptions WHERE active = 1`,
      )
      .all();
    this.targets = rows.map((row) => ({
      name: row.name,
      matches: compilePatterns(JSON.parse(row.types) as string[]),
      ordering: row.ordering === 'none' ? 'none' : 'key',
    }));
  }

  private wakeAll(): void {
    for (const wake of [...this.waiters]) wake();
  }

  private totalChanges(): number {
    return this.db.prepare<[], number>('SELECT total_changes()').pluck().get() as number;
  }

  private readDataVersion(): number {
    return this.db.pragma('data_version', { simple: true }) as number;
  }

  private startPolling(): void {
    if (this.poller !== undefined || this.closed) return;
    this.poller = setInterval(() => {
      if (this.waiters.size === 0) return this.stopPolling();
      const version = this.readDataVersion();
      if (version !== this.dataVersion) {
        this.dataVersion = version;
        this.wakeAll();
      }
    }, this.pollIntervalMs);
    this.poller.unref();
  }

  private stopPolling(): void {
    clearInterval(this.poller);
    this.poller = undefined;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the bus is closed');
  }
}

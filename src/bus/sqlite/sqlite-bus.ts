// SqliteBus: the embedded Bus on one SQLite file in WAL mode. All writes go through one connection
// and are group-committed; consumers are woken in-process on commit and across processes by
// watching PRAGMA data_version.
import type Database from 'better-sqlite3';
import type { AgentdEvent } from '../../core/envelope.js';
import { newEventId } from '../../core/ids.js';
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
import { GroupCommit } from './group-commit.js';
import { keyOrderStatements, type KeyOrder } from './key-order-sql.js';
import { publishStatements, type FanoutTarget, type Publisher } from './publish-sql.js';
import { retentionStatements, type RetentionStatements } from './retention-sql.js';
import { openDatabase, type Durability } from './schema.js';
import { settleStatements, type SettleStatements, type SettledRow } from './settle-sql.js';
import { SqliteDeadLetterQueue } from './sqlite-dlq.js';
import { SqliteSubscription, type SubscriptionHost } from './sqlite-subscription.js';
import { stepStatements, type StepStatements } from './steps-sql.js';

export interface SqliteBusOptions {
  /** Database file, e.g. `.agentd/agentd.db`; ':memory:' for throwaway tests. */
  path: string;
  durability?: Durability;
  /** The `source` of events the bus itself publishes (agentd.dlq.added). */
  source?: string;
  /** Acked history older than this is deleted. Default 7 days. 0 keeps everything. */
  retentionMs?: number;
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
}

const DAY_MS = 24 * 60 * 60 * 1000;
const RETENTION_SWEEP_MS = 60_000;

export class SqliteBus implements Bus, SubscriptionHost {
  readonly db: Database.Database;
  readonly commit: GroupCommit;
  readonly sql: SqliteStatements;
  readonly dlq: DeadLetterQueue;
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
  private closed = false;

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
    this.sql = {
      keys,
      publisher: publishStatements(this.db, keys),
      claims: claimStatements(this.db),
      settle: settleStatements(this.db),
      dlq: dlqStatements(this.db, keys),
      steps: stepStatements(this.db),
      retention: retentionStatements(this.db),
    };
    this.commit = new GroupCommit(this.db);
    this.commit.onCommit(() => {
      if (!this.readyChanged) return;
      this.readyChanged = false;
      this.wakeAll();
    });
    this.dlq = new SqliteDeadLetterQueue(this);
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
      const results = this.sql.publisher.publish(events, this.targets, now + delay, now);
      this.readyChanged = true;
      return results;
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
      const all = this.db
        .prepare<[], ExpiredLease>(
          `SELECT id, sub, seq, pkey, attempt FROM deliveries WHERE state = 'leased'`,
        )
        .all();
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
    this.sql.publisher.publish(events, this.targets, now, now);
    this.readyChanged = true;
  }

  markReadyChanged(): void {
    this.readyChanged = true;
  }

  /** Runs inside a write: takes back leases that expired, at most once per sweep interval. */
  sweepLeasesIfDue(now: number): void {
    if (now < this.nextLeaseSweep) return;
    this.nextLeaseSweep = now + this.sweepIntervalMs;
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
    const type = 'agentd.dlq.added';
    if (event.type === type || !this.hasSubscribers(type)) return;
    const announcement: AgentdEvent = {
      specversion: '1.0',
      id: newEventId(),
      source: this.source,
      type,
      time: new Date(now).toISOString(),
      dataschema: 'agentd:agentd.dlq.added/v1',
      data: {
        deliveryId: String(deliveryId),
        subscription: row.sub,
        eventId: event.id,
        eventSource: event.source,
        eventType: event.type,
        attempts,
        reason,
      },
      causationid: event.id,
      correlationid: event.correlationid,
      depth: event.depth + 1,
      trust: 'internal',
      ...(event.traceparent === undefined ? {} : { traceparent: event.traceparent }),
    };
    this.publishInTxn([announcement], now);
  }

  nextWakeAt(name: string): number | undefined {
    const ready = this.sql.claims.nextAvailableAt(name);
    const expiry = this.sql.claims.nextLeaseExpiry();
    // Expired leases are only swept once per interval (and strictly after lease_until): waking
    // earlier would spin on an empty claim.
    const lease = expiry === undefined ? undefined : Math.max(expiry + 1, this.nextLeaseSweep);
    if (ready === undefined) return lease;
    return lease === undefined ? ready : Math.min(ready, lease);
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
      if (n < 1_000) return total;
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
